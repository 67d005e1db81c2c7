// The examples' command lines, through CLI11 (libcli11-dev): every program declares its flags on a
// CLI::App and parses them with parse_command_line, so all of them have the same --help, the same
// type and range checks, and the same behaviour on bad input: a message naming the flag and what
// was wrong, "Run with --help for more information", and exit status 2 (0 after --help).
//
//   CLI::App app{"Trains a CNN on Fashion-MNIST."};
//   app.add_option("--epochs", s.epochs, "training epochs")->check(positive());
//   parse_command_line(app, argc, argv);
//
// A --smoke flag selects a small scale; flags given explicitly win over it, in any order, which
// CLI11 lets a program see with given(app, "--epochs").
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace dg::experiment {

// Parses argv into the options of `app`; exits the process with status 0 after printing the help
// for --help / -h, and with status 2 after printing the error for anything else it cannot parse.
void parse_command_line(CLI::App& app, int argc, char** argv);

// Validators with plain messages ("--width: must be a number above 0, got 0"): CLI11's own
// PositiveNumber and NonNegativeNumber print the whole range of a double.
CLI::Validator positive();  // a number > 0
CLI::Validator
non_negative();  // a number >= 0 (for counts and seeds: "-1" is not read as 2^64 - 1)

// Whether `flag` (e.g. "--epochs") was given on the command line just parsed.
bool given(const CLI::App& app, const std::string& flag);

// The arguments after the program's name, joined by spaces (for a results file's "Command:").
std::string joined_arguments(int argc, char** argv);

}  // namespace dg::experiment
