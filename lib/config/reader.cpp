#include "config/reader.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace svcgw::config_detail {

namespace {

std::string_view kind_name(const ConfigNode& node) {
    if (node.IsMap()) {
        return "a mapping";
    }
    if (node.IsSequence()) {
        return "a sequence";
    }
    if (node.IsScalar()) {
        return "a scalar";
    }
    return node.IsNull() ? "null" : "nothing";
}

// Quoted scalars carry the non-specific tag "!" (YAML 1.2 §6.9.1): they are
// strings even when they look like numbers, as in Kubernetes.
bool is_quoted(const ConfigNode& node) {
    return node.Tag() == "!";
}

std::string fold(std::string_view word) {
    std::string out;
    for (char c : word) {
        if (c != '_' && c != '-') {
            out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
    }
    return out;
}

size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) {
        row[j] = j;
    }
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t up = row[j];
            size_t substitution = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
            row[j] = std::min({up + 1, row[j - 1] + 1, substitution});
            diagonal = up;
        }
    }
    return row[b.size()];
}

}  // namespace

std::string suggest(std::string_view word, const std::vector<std::string_view>& candidates) {
    std::string folded = fold(word);
    // A third of the word, at least one and at most three edits: catches
    // typos and case/underscore variants without proposing unrelated keys.
    size_t budget = std::clamp<size_t>(folded.size() / 3, 1, 3);
    std::string best;
    size_t best_distance = budget + 1;
    for (std::string_view candidate : candidates) {
        size_t d = edit_distance(folded, fold(candidate));
        if (d < best_distance) {
            best_distance = d;
            best = candidate;
        }
    }
    return best;
}

std::string index_path(const std::string& path, size_t index) {
    return path + "[" + std::to_string(index) + "]";
}

std::string key_path(const std::string& path, std::string_view key) {
    if (path.empty()) {
        return std::string(key);
    }
    return path + "." + std::string(key);
}

Errors Reader::take_errors_since(size_t mark) {
    Errors out;
    if (mark < _errors.size()) {
        out.assign(std::make_move_iterator(_errors.begin() + static_cast<ptrdiff_t>(mark)),
                   std::make_move_iterator(_errors.end()));
        _errors.resize(mark);
    }
    return out;
}

std::string Reader::location(const YAML::Mark& mark) const {
    if (mark.is_null() || mark.line < 0) {
        return {};
    }
    return _source + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

std::string Reader::location(const ConfigNode& node, const std::string& fallback) const {
    // A null value's mark points past the key (to the next token), which
    // confuses more than it helps: use the caller's fallback (the key).
    if (!node.IsDefined() || node.IsNull()) {
        return fallback;
    }
    std::string at = location(node.Mark());
    return at.empty() ? fallback : at;
}

void Reader::error(const std::string& location, std::string path, std::string message) {
    _errors.push_back(Error{std::move(path), std::move(message), location});
}

void Reader::error(const ConfigNode& node, std::string path, std::string message) {
    error(location(node), std::move(path), std::move(message));
}

bool Reader::expect_map(const ConfigNode& node, const std::string& path) {
    if (node.IsMap()) {
        return true;
    }
    error(node, path, "expected a mapping, got " + std::string(kind_name(node)));
    return false;
}

bool Reader::expect_seq(const ConfigNode& node, const std::string& path) {
    if (node.IsSequence()) {
        return true;
    }
    error(node, path, "expected a sequence, got " + std::string(kind_name(node)));
    return false;
}

std::optional<std::string> Reader::string(const ConfigNode& node, const std::string& path) {
    if (!node.IsScalar()) {
        error(node, path, "expected a string, got " + std::string(kind_name(node)));
        return std::nullopt;
    }
    return node.Scalar();
}

std::optional<uint64_t> Reader::integer(const ConfigNode& node, const std::string& path,
                                        uint64_t min, uint64_t max, bool quoted_ok) {
    std::string range = "between " + std::to_string(min) + " and " + std::to_string(max);
    if (!node.IsScalar()) {
        error(node, path, "expected an integer, got " + std::string(kind_name(node)));
        return std::nullopt;
    }
    const std::string text = node.Scalar();
    if (is_quoted(node) && !quoted_ok) {
        error(node, path, "expected an integer, got the string \"" + text + "\"");
        return std::nullopt;
    }
    std::string_view digits = text;
    bool negative = !digits.empty() && digits[0] == '-';
    if (negative || (!digits.empty() && digits[0] == '+')) {
        digits.remove_prefix(1);
    }
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (digits.empty() || end != digits.data() + digits.size() ||
        (ec != std::errc{} && ec != std::errc::result_out_of_range)) {
        error(node, path, "expected an integer, got '" + text + "'");
        return std::nullopt;
    }
    if (ec == std::errc::result_out_of_range || (negative && value != 0) || value < min ||
        value > max) {
        error(node, path, "must be " + range + ", got " + text);
        return std::nullopt;
    }
    return value;
}

std::optional<bool> Reader::boolean(const ConfigNode& node, const std::string& path) {
    if (node.IsScalar() && !is_quoted(node)) {
        std::string text = fold(node.Scalar());
        if (text == "true") {
            return true;
        }
        if (text == "false") {
            return false;
        }
    }
    std::string got = node.IsScalar() ? "'" + node.Scalar() + "'" : std::string(kind_name(node));
    error(node, path, "expected true or false, got " + got);
    return std::nullopt;
}

std::optional<Ipv4> Reader::ipv4(const ConfigNode& node, const std::string& path) {
    auto text = string(node, path);
    if (!text) {
        return std::nullopt;
    }
    auto ip = Ipv4::parse(*text);
    if (!ip) {
        std::string hint = text->find(':') != std::string::npos ? " (IPv6 is not supported)" : "";
        error(node, path, "invalid IPv4 address '" + *text + "'" + hint);
    }
    return ip;
}

std::optional<Ipv4Prefix> Reader::prefix(const ConfigNode& node, const std::string& path) {
    auto text = string(node, path);
    if (!text) {
        return std::nullopt;
    }
    auto prefix = Ipv4Prefix::parse(*text);
    if (!prefix) {
        error(node, path, "invalid IPv4 CIDR '" + *text + "' (expected a.b.c.d/len)");
    }
    return prefix;
}

Fields::Fields(Reader& reader, const ConfigNode& map, std::string path,
               std::vector<std::string_view> allowed, std::vector<std::string_view> ignored)
    : _reader(reader), _path(std::move(path)), _location(reader.location(map)) {
    if (!map.IsMap()) {
        return;
    }
    for (const ConfigNode::Entry& pair : map.entries()) {
        const ConfigNode& key_node = pair.first;
        std::string key = key_node.Scalar();
        if (!key_node.IsScalar()) {
            reader.error(reader.location(key_node), _path, "mapping keys must be strings");
            continue;
        }
        bool known = std::find(allowed.begin(), allowed.end(), key) != allowed.end();
        bool skip = std::find(ignored.begin(), ignored.end(), key) != ignored.end();
        if (!known && !skip) {
            std::string hint = suggest(key, allowed);
            reader.error(reader.location(key_node), key_path(_path, key),
                         "unknown key '" + key + "'" +
                             (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
            continue;
        }
        auto same = [&](const Entry& e) { return e.key == key; };
        if (std::find_if(_entries.begin(), _entries.end(), same) != _entries.end()) {
            reader.error(reader.location(key_node), key_path(_path, key),
                         "duplicate key '" + key + "'");
            continue;
        }
        if (known) {
            _entries.push_back(Entry{key, key_node, pair.second});
        }
    }
}

std::optional<ConfigNode> Fields::get(std::string_view key) const {
    for (const Entry& e : _entries) {
        if (e.key == key) {
            if (e.value.IsNull()) {
                return std::nullopt;
            }
            return e.value;
        }
    }
    return std::nullopt;
}

std::string Fields::key_location(std::string_view key) const {
    for (const Entry& e : _entries) {
        if (e.key == key) {
            return _reader.location(e.key_node);
        }
    }
    return _location;
}

void record(SourceMap& map, const Reader& reader, std::string typed, std::string display,
            const ConfigNode& node, bool valid) {
    map[std::move(typed)] = SourceRef{std::move(display), reader.location(node), valid};
}

void record_at(SourceMap& map, std::string typed, std::string display, std::string location,
               bool valid) {
    map[std::move(typed)] = SourceRef{std::move(display), std::move(location), valid};
}

}  // namespace svcgw::config_detail
