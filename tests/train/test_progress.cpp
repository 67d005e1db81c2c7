// Tests of the progress bar: the layout of its line (bar, counts, rate, loss, ETA, note), the
// duration format, the bias-corrected smoothing of the loss, and that a quiet bar or one on a
// stream that is not a terminal writes nothing while one on a terminal redraws with '\r'.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <string>

#include "nn/train/progress.h"

using namespace dg::train;

namespace {

// Everything written to a temporary stream so far.
std::string contents(std::FILE* stream) {
  std::fflush(stream);
  std::rewind(stream);
  std::string text;
  for (int c; (c = std::fgetc(stream)) != EOF;) text += static_cast<char>(c);
  return text;
}

}  // namespace

TEST_CASE("format_duration: m:ss below an hour, h:mm:ss above", "[train][progress]") {
  CHECK(format_duration(0) == "0:00");
  CHECK(format_duration(59.4) == "0:59");
  CHECK(format_duration(61) == "1:01");
  CHECK(format_duration(3600 + 62) == "1:01:02");
  CHECK(format_duration(-1) == "--:--");
  CHECK(format_duration(NAN) == "--:--");
}

TEST_CASE("format_progress_line: bar, counts, rate, loss, ETA and note", "[train][progress]") {
  const std::string line = format_progress_line({.label = "epoch 1",
                                                 .step = 50,
                                                 .total = 200,
                                                 .elapsed_seconds = 2.0,
                                                 .loss = 0.123456,
                                                 .note = "lr 0.1"});
  // A quarter done: 5 of 20 bar cells; 25 steps/s; 150 steps left take 6 s.
  CHECK(line == "epoch 1 [#####...............] 50/200  25 it/s  loss 0.1235  ETA 0:06  lr 0.1");

  // Finished: a full bar and the elapsed time instead of an ETA; no loss when NaN.
  CHECK(format_progress_line({.label = "eval",
                              .step = 10,
                              .total = 10,
                              .elapsed_seconds = 4.0,
                              .loss = NAN,
                              .note = ""}) == "eval [####################] 10/10  2.50 it/s  0:04");
  // Unknown total: only the count; no rate before any time has passed.
  CHECK(format_progress_line(
            {.label = "x", .step = 7, .total = 0, .elapsed_seconds = 0, .loss = NAN, .note = ""}) ==
        "x 7");
}

TEST_CASE("ProgressBar: the smoothed loss is a bias-corrected moving average",
          "[train][progress]") {
  ProgressBar bar("t", 10, /*quiet=*/true);
  CHECK(std::isnan(bar.smoothed_loss()));
  bar.step(2.0);
  CHECK(bar.smoothed_loss() == Approx(2.0));  // the correction removes the pull towards zero
  bar.step();                                 // a step without a loss leaves it unchanged
  CHECK(bar.smoothed_loss() == Approx(2.0));
  bar.step(1.0);
  // (0.9 * 0.1 * 2 + 0.1 * 1) / (1 - 0.81)
  CHECK(bar.smoothed_loss() == Approx((0.18 + 0.1) / 0.19));
  CHECK(bar.steps_done() == 3);
}

TEST_CASE("ProgressBar: off a terminal, one final line; quiet, nothing", "[train][progress]") {
  std::FILE* stream = std::tmpfile();
  REQUIRE(stream != nullptr);
  {
    ProgressBar bar("epoch 2/5", 5, stream, /*is_terminal=*/false);
    CHECK_FALSE(bar.quiet());
    for (int i = 0; i < 5; ++i) bar.step(1.0);
    bar.set_note("lr 0.1");
  }  // the destructor finishes
  const std::string text = contents(stream);
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);  // one line, no redraws
  CHECK(text.find('\r') == std::string::npos);
  CHECK(text.find("\x1b") == std::string::npos);
  CHECK(text.rfind("epoch 2/5 [####################] 5/5", 0) == 0);
  CHECK(text.find("it/s") != std::string::npos);
  CHECK(text.find("loss 1.0000") != std::string::npos);
  CHECK(text.find("lr 0.1") != std::string::npos);
  std::fclose(stream);

  std::FILE* silent = std::tmpfile();
  {
    ProgressBar bar("silent", 5, /*stream=*/nullptr, /*is_terminal=*/false);
    CHECK(bar.quiet());
    for (int i = 0; i < 5; ++i) bar.step(1.0);
  }
  CHECK(contents(silent).empty());
  std::fclose(silent);
  CHECK(ProgressBar("quiet", 5, /*quiet=*/true).quiet());
}

TEST_CASE("SweepProgress: one line per finished run with count, rate and what ran",
          "[train][progress]") {
  std::FILE* stream = std::tmpfile();
  REQUIRE(stream != nullptr);
  SweepProgress sweep("sweep", 3, /*quiet=*/false, stream);
  sweep.run_done("IMP seed 0");
  sweep.run_done("MP seed 0");
  const std::string text = contents(stream);
  CHECK(std::count(text.begin(), text.end(), '\n') == 2);
  CHECK(text.find("sweep [######..............] 1/3") != std::string::npos);
  CHECK(text.find("2/3") != std::string::npos);
  CHECK(text.find("ETA") != std::string::npos);
  CHECK(text.find("MP seed 0") != std::string::npos);
  CHECK(sweep.runs_done() == 2);
  std::fclose(stream);
  SweepProgress quiet("sweep", 3, /*quiet=*/true, nullptr);
  quiet.run_done("x");
  CHECK(quiet.runs_done() == 1);
}

TEST_CASE("ProgressBar: on a terminal it redraws in place and ends the line", "[train][progress]") {
  std::FILE* stream = std::tmpfile();
  REQUIRE(stream != nullptr);
  ProgressBar bar("run", 3, stream, /*is_terminal=*/true);
  bar.set_note("hello");
  for (int i = 0; i < 3; ++i) bar.step(0.5);
  bar.finish();
  bar.finish();  // a second finish adds nothing
  const std::string text = contents(stream);
  REQUIRE(!text.empty());
  CHECK(text.front() == '\r');
  CHECK(text.back() == '\n');
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);
  // The last redraw shows the final state.
  const std::string last = text.substr(text.rfind('\r'));
  CHECK(last.find("3/3") != std::string::npos);
  CHECK(last.find("loss 0.5000") != std::string::npos);
  CHECK(last.find("hello") != std::string::npos);
  // The final state is drawn once: by the last step, not again by finish().
  size_t finals = 0;
  for (size_t at = text.find("3/3"); at != std::string::npos; at = text.find("3/3", at + 1))
    ++finals;
  CHECK(finals == 1);
  std::fclose(stream);
}

TEST_CASE("ProgressBar: a note set after the last step still shows", "[train][progress]") {
  std::FILE* stream = std::tmpfile();
  REQUIRE(stream != nullptr);
  {
    ProgressBar bar("run", 2, stream, /*is_terminal=*/true);
    bar.step();
    bar.step();
    bar.set_note("done");
  }
  const std::string text = contents(stream);
  CHECK(text.substr(text.rfind('\r')).find("2/2") != std::string::npos);
  CHECK(text.substr(text.rfind('\r')).find("done") != std::string::npos);
  std::fclose(stream);
}
