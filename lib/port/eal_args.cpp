#include "port/eal_args.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

namespace svcgw {

namespace {

std::optional<unsigned> parse_number(std::string_view text) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

// "3" or "1-4" appended to `out`; false on a syntax error.
bool parse_range(std::string_view text, std::vector<unsigned>& ids) {
    size_t dash = text.find('-');
    auto first = parse_number(text.substr(0, dash));
    auto last = dash == std::string_view::npos ? first : parse_number(text.substr(dash + 1));
    // EAL's RTE_MAX_LCORE is 128 in Debian's build; a bigger id is a typo.
    constexpr unsigned kMaxLcore = 1024;
    if (!first || !last || *first > *last || *last >= kMaxLcore) {
        return false;
    }
    for (unsigned id = *first; id <= *last; ++id) {
        ids.push_back(id);
    }
    return true;
}

// Splits on commas that are not inside parentheses.
std::vector<std::string_view> split_top_level(std::string_view text) {
    std::vector<std::string_view> items;
    int depth = 0;
    size_t start = 0;
    for (size_t i = 0; i <= text.size(); ++i) {
        if (i == text.size() || (text[i] == ',' && depth == 0)) {
            items.push_back(text.substr(start, i - start));
            start = i + 1;
        } else if (text[i] == '(') {
            ++depth;
        } else if (text[i] == ')') {
            --depth;
        }
    }
    return items;
}

bool uses_lcores_syntax(std::string_view text) {
    return text.find('@') != std::string_view::npos || text.find('(') != std::string_view::npos;
}

std::string mib(uint64_t bytes) {
    return std::to_string(bytes >> 20) + " MiB";
}

}  // namespace

HugepageInfo probe_hugepages() {
    HugepageInfo info;
    std::ifstream mounts("/proc/mounts");
    std::string line;
    while (std::getline(mounts, line)) {
        std::istringstream fields(line);
        std::string device, dir, type;
        fields >> device >> dir >> type;
        if (type == "hugetlbfs") {
            info.mounted = true;
        }
    }
    std::ifstream meminfo("/proc/meminfo");
    uint64_t free_pages = 0, page_kib = 0;
    while (std::getline(meminfo, line)) {
        std::istringstream fields(line);
        std::string key;
        uint64_t value = 0;
        fields >> key >> value;
        if (key == "HugePages_Free:") {
            free_pages = value;
        } else if (key == "Hugepagesize:") {
            page_kib = value;
        }
    }
    info.free_bytes = free_pages * page_kib * 1024;
    return info;
}

std::vector<unsigned> parse_lcore_list(std::string_view text) {
    std::vector<unsigned> ids;
    for (std::string_view item : split_top_level(text)) {
        // --lcores form: "LCORES@CPUS" where LCORES is "N", "N-M" or "(list)".
        size_t at = item.find('@');
        std::string_view lcores = item.substr(0, at);
        if (at != std::string_view::npos && item.substr(at + 1).empty()) {
            return {};
        }
        if (lcores.size() >= 2 && lcores.front() == '(' && lcores.back() == ')') {
            for (std::string_view inner : split_top_level(lcores.substr(1, lcores.size() - 2))) {
                if (!parse_range(inner, ids)) {
                    return {};
                }
            }
        } else if (!parse_range(lcores, ids)) {
            return {};
        }
    }
    std::vector<unsigned> sorted = ids;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
        return {};  // an lcore listed twice is a config mistake, not a wish
    }
    return ids;
}

bool is_vdev_spec(std::string_view device) {
    return device.starts_with("net_");
}

std::string with_queue_pairs(std::string_view device, unsigned queues) {
    std::string spec(device);
    if (!device.starts_with("net_af_packet") || device.find("qpairs=") != std::string_view::npos) {
        return spec;
    }
    spec += ",";
    spec += "qpairs=" + std::to_string(queues);
    return spec;
}

std::string device_arg(std::string_view device, std::string_view key) {
    size_t start = device.find(',');
    while (start != std::string_view::npos) {
        const size_t end = device.find(',', start + 1);
        const std::string_view item = device.substr(start + 1, end - start - 1);
        if (item.size() > key.size() && item.starts_with(key) && item[key.size()] == '=') {
            return std::string(item.substr(key.size() + 1));
        }
        start = end;
    }
    return {};
}

Result<void> check_port_device(const PortConfig& port, const HostView& host) {
    const std::string& device = port.device;
    if (is_vdev_spec(device)) {
        // PMDs that attach to an existing kernel interface.
        if (!device.starts_with("net_af_packet") && !device.starts_with("net_af_xdp")) {
            return {};
        }
        const std::string iface = device_arg(device, "iface");
        if (iface.empty()) {
            return fail("ports[0].device", "\"" + device + "\" names no iface=");
        }
        if (host.ifindex != nullptr && host.ifindex(iface.c_str()) == 0) {
            return fail("ports[0].device",
                        "interface \"" + iface + "\" does not exist (in this network namespace)");
        }
        return {};
    }
    // A PCI address, "0000:03:00.0" or "03:00.0", maybe followed by devargs.
    std::string address = device.substr(0, device.find(','));
    if (std::count(address.begin(), address.end(), ':') == 1) {
        address = "0000:" + address;
    }
    namespace fs = std::filesystem;
    const fs::path dir = fs::path(host.sysfs) / "bus/pci/devices" / address;
    std::error_code ec;
    if (!fs::exists(dir, ec)) {
        return fail("ports[0].device", "no PCI device " + address +
                                           " (lspci -D lists them; a vdev spec starts with net_)");
    }
    const fs::path driver = fs::read_symlink(dir / "driver", ec);
    const std::string bind_hint =
        ": bind it with `dpdk-devbind.py --bind=vfio-pci " + address + "` (README: bare metal)";
    if (ec) {
        return fail("ports[0].device", "PCI device " + address + " has no driver" + bind_hint);
    }
    // Drivers DPDK can drive the device through: userspace I/O, or the
    // kernel driver of a bifurcated NIC (Mellanox mlx4/mlx5).
    constexpr std::array<std::string_view, 5> kUsable = {"vfio-pci", "uio_pci_generic", "igb_uio",
                                                         "mlx4_core", "mlx5_core"};
    const std::string name = driver.filename().string();
    if (std::find(kUsable.begin(), kUsable.end(), name) == kUsable.end()) {
        return fail("ports[0].device",
                    "PCI device " + address + " is bound to the kernel driver " + name + bind_hint);
    }
    return {};
}

Result<std::vector<std::string>> build_eal_args(const Config& config, const HugepageInfo& host,
                                                std::span<const std::string> trailing) {
    const DpdkConfig& dpdk = config.dpdk;
    std::vector<unsigned> lcores = parse_lcore_list(dpdk.lcores);
    if (lcores.empty()) {
        return fail("dpdk.lcores", "cannot parse lcore list \"" + dpdk.lcores + "\"");
    }
    if (lcores.size() < 2) {
        return fail("dpdk.lcores",
                    "need at least two lcores: the main lcore runs the control thread, the "
                    "others run workers");
    }
    unsigned workers = static_cast<unsigned>(lcores.size() - 1);

    std::vector<std::string> args{"svcgw"};
    if (uses_lcores_syntax(dpdk.lcores)) {
        args.push_back("--lcores=" + dpdk.lcores);
    } else {
        args.insert(args.end(), {"-l", dpdk.lcores});
    }
    args.push_back("--file-prefix=" + dpdk.file_prefix);
    args.insert(args.end(), {"-m", std::to_string(dpdk.memory_mb)});

    uint64_t wanted = uint64_t{dpdk.memory_mb} << 20;
    bool enough = host.mounted && host.free_bytes >= wanted;
    switch (dpdk.hugepages) {
        case HugepageMode::on:
            if (!host.mounted) {
                return fail("dpdk.hugepages", "hugepages: true but no hugetlbfs is mounted");
            }
            if (!enough) {
                return fail("dpdk.hugepages", "hugepages: true but only " + mib(host.free_bytes) +
                                                  " of hugepages are free, memory_mb needs " +
                                                  mib(wanted));
            }
            break;
        case HugepageMode::automatic:
            if (!enough) {
                args.push_back("--no-huge");
            }
            break;
        case HugepageMode::off:
            args.push_back("--no-huge");
            break;
    }

    bool any_pci = false;
    for (const PortConfig& port : config.ports) {
        if (is_vdev_spec(port.device)) {
            args.push_back("--vdev=" + with_queue_pairs(port.device, workers));
        } else {
            args.insert(args.end(), {"-a", port.device});
            any_pci = true;
        }
    }
    if (!any_pci) {
        args.push_back("--no-pci");
    }
    args.insert(args.end(), dpdk.extra_args.begin(), dpdk.extra_args.end());
    args.insert(args.end(), trailing.begin(), trailing.end());
    return args;
}

}  // namespace svcgw
