// Option parsing and usage errors shared by the skiff subcommands.
#include "skiff/cli/options.hpp"

#include <cstdio>

namespace po = boost::program_options;

namespace skiff::cli {

bool parse_options(const std::vector<std::string>& args, const po::options_description& desc,
                   const po::positional_options_description& pos, po::variables_map& vm, std::string& error) {
    try {
        po::store(po::command_line_parser(args).options(desc).positional(pos).run(), vm);
        po::notify(vm);
        return true;
    } catch (const std::exception& e) {
        error = e.what();
        return false;
    }
}

bool parse_options(const std::vector<std::string>& args, const po::options_description& desc, po::variables_map& vm,
                   std::string& error, const char* positional) {
    po::positional_options_description pos;
    if (positional) pos.add(positional, -1);
    return parse_options(args, desc, pos, vm, error);
}

int usage_error(const std::string& command, const std::string& message) {
    std::fprintf(stderr, "%s: %s (see %s --help)\n", command.c_str(), message.c_str(), command.c_str());
    return 2;
}

}  // namespace skiff::cli
