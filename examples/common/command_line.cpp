// parse_command_line and friends (see command_line.h).
#include "examples/common/command_line.h"

#include <cstdio>
#include <cstdlib>

namespace dg::experiment {

void parse_command_line(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    std::exit(app.exit(help));  // prints the help on stdout, status 0
  } catch (const CLI::ParseError& error) {
    app.exit(error);  // prints "<what went wrong>" and "Run with --help ..." on stderr
    std::exit(2);
  }
}

namespace {

CLI::Validator number_check(const char* name, bool (*accept)(double), const char* requirement) {
  return CLI::Validator(
      [accept, requirement](std::string& text) -> std::string {
        double value = 0;
        if (!CLI::detail::lexical_cast(text, value)) return "must be a number, got '" + text + "'";
        if (!accept(value)) return std::string("must be ") + requirement + ", got " + text;
        return {};
      },
      name);
}

}  // namespace

CLI::Validator positive() {
  return number_check(
      "POSITIVE", [](double v) { return v > 0; }, "a number above 0");
}

CLI::Validator non_negative() {
  return number_check(
      "NONNEGATIVE", [](double v) { return v >= 0; }, "a number at least 0");
}

bool given(const CLI::App& app, const std::string& flag) { return app.count(flag) > 0; }

std::string joined_arguments(int argc, char** argv) {
  std::string out;
  for (int i = 1; i < argc; ++i) {
    if (i > 1) out += ' ';
    out += argv[i];
  }
  return out;
}

}  // namespace dg::experiment
