// A read-only view of one node of a configuration document, over either
// tree svcgw reads: yaml-cpp's (files, `svcgwctl apply`, API bodies) or
// simdjson's JSON DOM (the Kubernetes feed's LIST and WATCH bodies). lib/config's
// readers take this view, so a Kubernetes object from the API goes through
// the very field rules a manifest file does, without first being copied into
// a YAML tree (that copy and yaml-cpp's node handling were a third of a
// 10k-Service cold start: perf/RESULTS.md, "Kubernetes feed").
//
// The method names are yaml-cpp's (IsMap, Scalar, Tag, Mark): the readers
// were written against that interface and read the same over either tree.
// JSON is read as the YAML it is a subset of: a string is a quoted scalar
// (tag "!", so "8080" stays a string), a number or boolean a plain scalar as
// written, and nothing has a mark (errors carry the field path, no line).
//
// A view does not own its JSON: the parser that holds the document must
// outlive it (and parse nothing else meanwhile).
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace simdjson::dom {
class element;
}  // namespace simdjson::dom

namespace svcgw {

class ConfigNode {
public:
    ConfigNode() = default;  // undefined: nothing there
    // Implicit: every YAML node the file readers hold is a view as is.
    ConfigNode(YAML::Node node) : _tree(Tree::yaml), _yaml(std::move(node)) {}  // NOLINT
    explicit ConfigNode(const simdjson::dom::element& value);

    bool IsDefined() const;
    bool IsNull() const;
    bool IsScalar() const;
    bool IsSequence() const;
    bool IsMap() const;
    // A scalar's text ("" for anything else); a JSON number as written.
    std::string Scalar() const;
    // "!" on a quoted scalar (every JSON string); the tag as written in YAML.
    std::string Tag() const;
    YAML::Mark Mark() const;  // null in JSON
    size_t size() const;      // items of a sequence or entries of a mapping
    // A sequence's item; undefined past the end. JSON arrays are walked
    // from the start (simdjson's tape): O(index), and arrays are short.
    ConfigNode operator[](size_t index) const;

    struct Entry;
    // A mapping's entries: key and value (nothing for other nodes).
    std::vector<Entry> entries() const;

private:
    enum class Tree : uint8_t { none, yaml, json, json_key };
    static ConfigNode json_key(std::string_view key);
    simdjson::dom::element json() const;

    // simdjson::dom::element is a document pointer and a tape index,
    // trivially copyable: kept as bytes so simdjson's large header stays out
    // of every reader (config_node.cpp checks the size).
    static constexpr size_t kElementBytes = 16;

    Tree _tree = Tree::none;
    YAML::Node _yaml;
    alignas(8) unsigned char _json[kElementBytes] = {};
    std::string_view _key;  // json_key: a JSON object's key, a string
};

struct ConfigNode::Entry {
    ConfigNode first;   // the key
    ConfigNode second;  // the value
};

}  // namespace svcgw
