#include "config/config_node.hpp"

#include <nlohmann/json.hpp>

namespace svcgw {

ConfigNode ConfigNode::json_key(const std::string& key) {
    ConfigNode node;
    node._tree = Tree::json_key;
    node._key = &key;
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
            return _json->is_null();
        default:
            return false;
    }
}

bool ConfigNode::IsScalar() const {
    switch (_tree) {
        case Tree::yaml:
            return _yaml.IsScalar();
        case Tree::json:
            return _json->is_string() || _json->is_number() || _json->is_boolean();
        case Tree::json_key:
            return true;
        default:
            return false;
    }
}

bool ConfigNode::IsSequence() const {
    return _tree == Tree::yaml ? _yaml.IsSequence() : _tree == Tree::json && _json->is_array();
}

bool ConfigNode::IsMap() const {
    return _tree == Tree::yaml ? _yaml.IsMap() : _tree == Tree::json && _json->is_object();
}

std::string ConfigNode::Scalar() const {
    switch (_tree) {
        case Tree::yaml:
            return _yaml.IsScalar() ? _yaml.Scalar() : std::string();
        case Tree::json:
            if (_json->is_string()) {
                return _json->get_ref<const std::string&>();
            }
            return _json->is_number() || _json->is_boolean() ? _json->dump() : std::string();
        case Tree::json_key:
            return *_key;
        default:
            return {};
    }
}

std::string ConfigNode::Tag() const {
    switch (_tree) {
        case Tree::yaml:
            return _yaml.Tag();
        case Tree::json:
            return _json->is_string() ? "!" : "";
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
    return _tree == Tree::json && (_json->is_array() || _json->is_object()) ? _json->size() : 0;
}

ConfigNode ConfigNode::operator[](size_t index) const {
    if (_tree == Tree::yaml) {
        return ConfigNode(_yaml[index]);
    }
    if (_tree == Tree::json && _json->is_array() && index < _json->size()) {
        return ConfigNode((*_json)[index]);
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
    } else if (_tree == Tree::json && _json->is_object()) {
        out.reserve(_json->size());
        for (auto it = _json->begin(); it != _json->end(); ++it) {
            out.push_back(Entry{json_key(it.key()), ConfigNode(it.value())});
        }
    }
    return out;
}

}  // namespace svcgw
