// Internal to lib/config: typed reads from document nodes (ConfigNode: YAML,
// or the Kubernetes API's JSON) that collect every error with its path and
// file:line:col instead of throwing. yaml-cpp throws on misuse (missing keys
// on const nodes, failed conversions), so nothing here uses operator[] or
// as<T>(): mappings are walked once into a Fields view and scalars are
// converted by hand.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.hpp"
#include "common/result.hpp"
#include "config/config.hpp"
#include "config/config_node.hpp"

namespace svcgw::config_detail {

// Closest candidate within a small edit distance (case and '_' insensitive,
// so "targetPort" finds "target_port"); empty when nothing is close.
std::string suggest(std::string_view word, const std::vector<std::string_view>& candidates);

std::string index_path(const std::string& path, size_t index);        // "a.b" + 2 -> "a.b[2]"
std::string key_path(const std::string& path, std::string_view key);  // "a" + "b" -> "a.b"

class Reader {
public:
    explicit Reader(std::string source) : _source(std::move(source)) {}

    const std::string& source() const { return _source; }
    // "file:line:col" (1-based) of a node, or of `fallback` when the node has no mark.
    std::string location(const ConfigNode& node, const std::string& fallback = {}) const;
    std::string location(const YAML::Mark& mark) const;

    void error(const std::string& location, std::string path, std::string message);
    void error(const ConfigNode& node, std::string path, std::string message);
    bool has_errors() const { return !_errors.empty(); }
    size_t error_count() const { return _errors.size(); }
    Errors take_errors() { return std::move(_errors); }
    // The errors reported since error_count() was `mark` (one object's).
    Errors take_errors_since(size_t mark);

    // Type checks: report "expected a mapping, got a sequence" and return false.
    bool expect_map(const ConfigNode& node, const std::string& path);
    bool expect_seq(const ConfigNode& node, const std::string& path);

    // Scalars. Each reports its own error and returns nullopt on failure.
    std::optional<std::string> string(const ConfigNode& node, const std::string& path);
    // `quoted_ok`: a quoted number is accepted too (annotation values are strings).
    std::optional<uint64_t> integer(const ConfigNode& node, const std::string& path, uint64_t min,
                                    uint64_t max, bool quoted_ok = false);
    std::optional<bool> boolean(const ConfigNode& node, const std::string& path);
    std::optional<Ipv4> ipv4(const ConfigNode& node, const std::string& path);
    std::optional<Ipv4Prefix> prefix(const ConfigNode& node, const std::string& path);

private:
    std::string _source;
    Errors _errors;
};

// One mapping walked once: unknown keys (with a suggestion) and duplicate
// keys are reported on construction; get() then looks values up. A null value
// (`key:` with nothing after it) counts as absent, so the default applies.
class Fields {
public:
    // `ignored` keys are accepted and skipped (fields Kubernetes adds on export).
    Fields(Reader& reader, const ConfigNode& map, std::string path,
           std::vector<std::string_view> allowed, std::vector<std::string_view> ignored = {});

    std::optional<ConfigNode> get(std::string_view key) const;
    bool has(std::string_view key) const { return get(key).has_value(); }
    std::string path(std::string_view key) const { return key_path(_path, key); }
    // Location of the key itself (for "missing"/"not allowed here" errors).
    std::string key_location(std::string_view key) const;
    const std::string& path() const { return _path; }
    const std::string& location() const { return _location; }

private:
    struct Entry {
        std::string key;
        ConfigNode key_node;
        ConfigNode value;
    };
    Reader& _reader;
    std::string _path;
    std::string _location;
    std::vector<Entry> _entries;
};

// Records where a value was written: `typed` key -> {display path, location}.
void record(SourceMap& map, const Reader& reader, std::string typed, std::string display,
            const ConfigNode& node, bool valid = true);
void record_at(SourceMap& map, std::string typed, std::string display, std::string location,
               bool valid = true);

}  // namespace svcgw::config_detail
