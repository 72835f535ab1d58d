#include "config/config_node.hpp"

#include <simdjson.h>

#include <charconv>
#include <cstring>
#include <type_traits>

namespace svcgw {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

static_assert(std::is_trivially_copyable_v<element> && sizeof(element) <= 16 &&
              alignof(element) <= 8);

// A JSON number's text: integers as digits; a double as JSON writers print
// it, with a decimal point or exponent (so 80.0 is not taken for the
// integer 80, as the readers never took it).
std::string number_text(const element& value) {
    switch (value.type()) {
        case element_type::INT64:
            return std::to_string(int64_t(value));
        case element_type::UINT64:
            return std::to_string(uint64_t(value));
        default: {
            char text[32];
            auto [end, ec] = std::to_chars(text, text + sizeof text, double(value));
            std::string out(text, ec == std::errc{} ? end : text);
            if (out.find_first_of(".eEn") == std::string::npos) {
                out += ".0";
            }
            return out;
        }
    }
}

bool is_number(element_type type) {
    return type == element_type::INT64 || type == element_type::UINT64 ||
           type == element_type::DOUBLE;
}

}  // namespace

ConfigNode::ConfigNode(const element& value) : _tree(Tree::json) {
    std::memcpy(_json, &value, sizeof value);
}

element ConfigNode::json() const {
    element value;
    std::memcpy(&value, _json, sizeof value);
    return value;
}

ConfigNode ConfigNode::json_key(std::string_view key) {
    ConfigNode node;
    node._tree = Tree::json_key;
    node._key = key;
    return node;
}

bool ConfigNode::IsDefined() const {
    return _tree == Tree::yaml ? _yaml.IsDefined() : _tree != Tree::none;
}

bool ConfigNode::IsNull() const {
    switch (_tree) {
        case Tree::yaml:
            return _yaml.IsNull();
        case Tree::json:
            return json().type() == element_type::NULL_VALUE;
        default:
            return false;
    }
}

bool ConfigNode::IsScalar() const {
    switch (_tree) {
        case Tree::yaml:
            return _yaml.IsScalar();
        case Tree::json: {
            const element_type type = json().type();
            return type == element_type::STRING || type == element_type::BOOL || is_number(type);
        }
        case Tree::json_key:
            return true;
        default:
            return false;
    }
}

bool ConfigNode::IsSequence() const {
    return _tree == Tree::yaml ? _yaml.IsSequence()
                               : _tree == Tree::json && json().type() == element_type::ARRAY;
}

bool ConfigNode::IsMap() const {
    return _tree == Tree::yaml ? _yaml.IsMap()
                               : _tree == Tree::json && json().type() == element_type::OBJECT;
}

std::string ConfigNode::Scalar() const {
    switch (_tree) {
        case Tree::yaml:
            return _yaml.IsScalar() ? _yaml.Scalar() : std::string();
        case Tree::json: {
            const element value = json();
            const element_type type = value.type();
            if (type == element_type::STRING) {
                return std::string(std::string_view(value));
            }
            if (type == element_type::BOOL) {
                return bool(value) ? "true" : "false";
            }
            return is_number(type) ? number_text(value) : std::string();
        }
        case Tree::json_key:
            return std::string(_key);
        default:
            return {};
    }
}

std::string ConfigNode::Tag() const {
    switch (_tree) {
        case Tree::yaml:
            return _yaml.Tag();
        case Tree::json:
            return json().type() == element_type::STRING ? "!" : "";
        case Tree::json_key:
            return "!";
        default:
            return {};
    }
}

YAML::Mark ConfigNode::Mark() const {
    return _tree == Tree::yaml ? _yaml.Mark() : YAML::Mark::null_mark();
}

size_t ConfigNode::size() const {
    if (_tree == Tree::yaml) {
        return _yaml.size();
    }
    if (_tree != Tree::json) {
        return 0;
    }
    const element value = json();
    switch (value.type()) {
        case element_type::ARRAY:
            return simdjson::dom::array(value).size();
        case element_type::OBJECT:
            return simdjson::dom::object(value).size();
        default:
            return 0;
    }
}

ConfigNode ConfigNode::operator[](size_t index) const {
    if (_tree == Tree::yaml) {
        return ConfigNode(_yaml[index]);
    }
    if (_tree == Tree::json && json().type() == element_type::ARRAY) {
        for (element item : simdjson::dom::array(json())) {
            if (index-- == 0) {
                return ConfigNode(item);
            }
        }
    }
    return {};
}

std::vector<ConfigNode::Entry> ConfigNode::entries() const {
    std::vector<Entry> out;
    if (_tree == Tree::yaml && _yaml.IsMap()) {
        out.reserve(_yaml.size());
        for (const auto& pair : _yaml) {
            out.push_back(Entry{ConfigNode(pair.first), ConfigNode(pair.second)});
        }
    } else if (_tree == Tree::json && json().type() == element_type::OBJECT) {
        for (simdjson::dom::key_value_pair field : simdjson::dom::object(json())) {
            out.push_back(Entry{json_key(field.key), ConfigNode(field.value)});
        }
    }
    return out;
}

}  // namespace svcgw
