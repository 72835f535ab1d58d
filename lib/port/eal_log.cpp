#include "port/eal_log.hpp"

#include <rte_log.h>

#include <cstdio>
#include <deque>
#include <mutex>

namespace svcgw::eal_log {
namespace {

// Enough to hold a failed init or probe and what EAL logged around it.
constexpr size_t kRememberedLines = 64;

struct Line {
    uint32_t level = 0;  // RTE_LOG_ERR, ...
    std::string text;
};

struct Tee {
    std::mutex mutex;
    std::deque<Line> lines;
    std::string partial;  // a line not yet ended by '\n'
    FILE* stream = nullptr;
};

Tee& tee() {
    static Tee t;
    return t;
}

ssize_t tee_write(void* /*cookie*/, const char* data, size_t size) {
    std::fwrite(data, 1, size, stderr);
    // Called inside rte_vlog(), which flushes each message: the level is
    // the current message's (-1 for a write from outside rte_log).
    const int level = rte_log_cur_msg_loglevel();
    Tee& t = tee();
    std::lock_guard lock(t.mutex);
    for (size_t i = 0; i < size; ++i) {
        if (data[i] != '\n') {
            t.partial += data[i];
            continue;
        }
        if (!t.partial.empty()) {
            t.lines.push_back(Line{level < 0 ? RTE_LOG_DEBUG : static_cast<uint32_t>(level),
                                   std::move(t.partial)});
            if (t.lines.size() > kRememberedLines) {
                t.lines.pop_front();
            }
        }
        t.partial.clear();
    }
    return static_cast<ssize_t>(size);
}

std::string trimmed(std::string line) {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) {
        line.pop_back();
    }
    return line;
}

}  // namespace

void install() {
    Tee& t = tee();
    if (t.stream != nullptr) {
        return;
    }
    cookie_io_functions_t io{};
    io.write = tee_write;
    t.stream = fopencookie(nullptr, "w", io);
    if (t.stream == nullptr) {
        return;  // EAL keeps its own stream: errors are still shown, not quoted
    }
    setvbuf(t.stream, nullptr, _IOLBF, 0);  // one write per line, in order with ours
    rte_openlog_stream(t.stream);
}

std::vector<std::string> recent(uint32_t max_level) {
    Tee& t = tee();
    if (t.stream != nullptr) {
        std::fflush(t.stream);
    }
    std::lock_guard lock(t.mutex);
    std::vector<std::string> out;
    for (const Line& line : t.lines) {
        if (line.level <= max_level) {
            out.push_back(trimmed(line.text));
        }
    }
    return out;
}

std::string cause(std::string_view subject) {
    if (!subject.empty()) {
        for (const std::string& line : recent(RTE_LOG_DEBUG)) {
            if (line.find(subject) != std::string::npos) {
                return line;
            }
        }
        return {};
    }
    // Errors only, oldest first: the cause, then EAL's summary of it.
    std::string out;
    for (const std::string& line : recent(RTE_LOG_ERR)) {
        if (out.find(line) == std::string::npos) {
            out += (out.empty() ? "" : "; ") + line;
        }
    }
    return out;
}

}  // namespace svcgw::eal_log
