// Control-plane error reporting: a value or an Error carrying the config path
// and, when known, the source position. std::expected is C++23; this is the
// small subset the project needs on C++20.
#pragma once

#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace svcgw {

struct Error {
    std::string path;      // config path such as "services[0].ports[1].port"; may be empty
    std::string message;   // what is wrong, for a person
    std::string location;  // "file:line:col" when the error comes from a file; may be empty

    // "file:line:col: path: message" with the empty parts left out.
    std::string str() const;
};

using Errors = std::vector<Error>;

template <class E>
struct Unexpected {
    E error;
};

inline Unexpected<Error> fail(std::string path, std::string message, std::string location = {}) {
    return {Error{std::move(path), std::move(message), std::move(location)}};
}

template <class T, class E = Error>
class [[nodiscard]] Result {
public:
    Result(T value) : _v(std::in_place_index<0>, std::move(value)) {}
    template <class U>
    Result(Unexpected<U> e) : _v(std::in_place_index<1>, E(std::move(e.error))) {}

    bool has_value() const { return _v.index() == 0; }
    explicit operator bool() const { return has_value(); }
    T& value() & { return std::get<0>(_v); }
    const T& value() const& { return std::get<0>(_v); }
    T&& value() && { return std::get<0>(std::move(_v)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    const E& error() const { return std::get<1>(_v); }
    E& error() { return std::get<1>(_v); }

private:
    std::variant<T, E> _v;
};

template <class E>
class [[nodiscard]] Result<void, E> {
public:
    Result() = default;
    template <class U>
    Result(Unexpected<U> e) : _error(E(std::move(e.error))), _ok(false) {}

    bool has_value() const { return _ok; }
    explicit operator bool() const { return _ok; }
    const E& error() const { return _error; }
    E& error() { return _error; }

private:
    E _error{};
    bool _ok = true;
};

}  // namespace svcgw
