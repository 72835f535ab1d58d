#include "common/result.hpp"

namespace svcgw {

std::string Error::str() const {
    std::string out;
    if (!location.empty()) {
        out += location + ": ";
    }
    if (!path.empty()) {
        out += path + ": ";
    }
    out += message;
    return out;
}

}  // namespace svcgw
