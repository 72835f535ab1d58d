// What the config suites share: a load that must succeed or must fail, and
// every error of a failed one on its own line for the assertion message.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"

namespace svcgw::testing_config {

// The source name every error of these loads carries.
constexpr const char* kSource = "t.yaml";

inline std::string all_errors(const Errors& errors) {
    std::string out;
    for (const Error& e : errors) {
        out += "  " + e.str() + "\n";
    }
    return out;
}

inline Config load_ok(const std::string& yaml) {
    auto result = load_config(yaml, kSource);
    EXPECT_TRUE(result.has_value()) << (result ? "" : all_errors(result.error()));
    return result ? *result : Config{};
}

inline Errors load_errors(const std::string& yaml) {
    auto result = load_config(yaml, kSource);
    EXPECT_FALSE(result.has_value()) << "expected errors for:\n" << yaml;
    return result ? Errors{} : result.error();
}

}  // namespace svcgw::testing_config
