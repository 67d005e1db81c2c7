// A progress bar on stderr for long work (an epoch, an evaluation pass): the label, a bar,
// step/total, steps per second, a smoothed loss, the estimated time left and an optional note,
// redrawn in place with '\r' at most ten times a second on a terminal. When its stream is not a
// terminal (a log file, a pipe, CI) it prints the final line once, when the bar finishes: one line
// per epoch instead of a file full of redraws. Constructed quiet, it prints nothing. So a program
// can always make one and let the environment decide.
//
//   ProgressBar bar("epoch 3", loader.num_batches());
//   for (const Batch& batch : loader.epoch(3)) bar.step(train_step(batch));
//   bar.finish();  // draws the final state and ends the line (the destructor does it too)
//
// The line itself comes from format_progress_line, a pure function of the numbers it shows, so
// its layout is tested without a terminal.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>

namespace dg::train {

// What one progress line shows. total <= 0 means "unknown": no bar, no ETA.
struct ProgressLine {
  std::string label;
  int64_t step = 0;
  int64_t total = 0;
  double elapsed_seconds = 0;
  double loss = std::numeric_limits<double>::quiet_NaN();  // NaN: not shown
  std::string note;                                        // empty: not shown
};

// "epoch 3 [#######.............]  140/469  52.3 it/s  loss 0.4312  ETA 0:06  lr 0.01".
// Steps per second are the average over the elapsed time; the ETA assumes that rate continues.
std::string format_progress_line(const ProgressLine& line);

// Seconds as "m:ss", or "h:mm:ss" from an hour on ("--:--" when not finite or negative).
std::string format_duration(double seconds);

class ProgressBar {
 public:
  // Writes to stderr unless `quiet`: redrawn in place on a terminal, one final line otherwise.
  ProgressBar(std::string label, int64_t total_steps, bool quiet = false);
  // Writes to `stream` (nullptr: quiet), redrawing in place when `is_terminal` (the caller decides;
  // tests pass a temporary file).
  ProgressBar(std::string label, int64_t total_steps, std::FILE* stream, bool is_terminal);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // One step done; `loss` (if not NaN) enters the smoothed loss shown.
  void step(double loss = std::numeric_limits<double>::quiet_NaN());
  // Extra text shown at the end of the line (e.g. "lr 0.01"), from the next redraw on.
  void set_note(std::string note);
  // Draws the final state and ends the line. Later calls do nothing.
  void finish();

  int64_t steps_done() const { return steps_; }
  // The exponential moving average of the losses passed to step() (weight 0.9 on the past,
  // corrected for its start at zero as in Adam), or NaN before the first loss.
  double smoothed_loss() const;
  bool quiet() const { return stream_ == nullptr; }

 private:
  using Clock = std::chrono::steady_clock;

  void draw();
  double elapsed_seconds() const;

  std::FILE* stream_;  // nullptr when quiet
  bool terminal_;      // redraw in place; otherwise one line at finish()
  std::string label_;
  std::string note_;
  int64_t total_;
  int64_t steps_ = 0;
  int64_t drawn_steps_ = -1;  // steps_ at the last redraw
  double loss_average_ = 0;   // the uncorrected moving average
  int64_t losses_seen_ = 0;
  bool finished_ = false;
  Clock::time_point start_;
  Clock::time_point last_draw_;
};

// The progress of a sweep of runs (an experiment program's settings x seeds), one line per
// finished run on stdout, terminal or not: "sweep 3/24 [###.................] 0.02 it/s  ETA 12:40
// ResNet PAD-Net seed 0". The rate and ETA come from the runs so far.
class SweepProgress {
 public:
  SweepProgress(std::string label, int64_t total_runs, bool quiet = false,
                std::FILE* stream = stdout);
  // One run finished; `what` names it on the line.
  void run_done(const std::string& what);
  int64_t runs_done() const { return done_; }

 private:
  std::FILE* stream_;
  std::string label_;
  int64_t total_;
  int64_t done_ = 0;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace dg::train
