// Option parsing and usage errors shared by the skiff subcommands (boost::program_options underneath).
#pragma once

#include <boost/program_options.hpp>
#include <string>
#include <vector>

namespace skiff::cli {

// Parses args against desc; `positional`, when given, is the option that takes the words that are not
// options (and `pos`, when given, says more precisely how). false with boost's message in error.
bool parse_options(const std::vector<std::string>& args, const boost::program_options::options_description& desc,
                   boost::program_options::variables_map& vm, std::string& error, const char* positional = nullptr);
bool parse_options(const std::vector<std::string>& args, const boost::program_options::options_description& desc,
                   const boost::program_options::positional_options_description& pos,
                   boost::program_options::variables_map& vm, std::string& error);

// Prints "COMMAND: MESSAGE (see COMMAND --help)" on stderr; returns 2, the exit status of usage errors.
int usage_error(const std::string& command, const std::string& message);

}  // namespace skiff::cli
