// The progress bar of progress.h: the line's layout, the loss smoothing and the redraw throttle.
#include "nn/train/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <utility>

namespace dg::train {

namespace {

constexpr int kBarWidth = 20;
constexpr double kLossMomentum = 0.9;            // weight of the past in the smoothed loss
constexpr double kMinSecondsBetweenDraws = 0.1;  // at most ten redraws a second

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const auto total = static_cast<int64_t>(std::llround(seconds));
  const int64_t hours = total / 3600, minutes = total / 60 % 60, secs = total % 60;
  if (hours > 0) return fmt::format("{}:{:02}:{:02}", hours, minutes, secs);
  return fmt::format("{}:{:02}", minutes, secs);
}

std::string format_progress_line(const ProgressLine& line) {
  std::string out = line.label;
  const bool known_total = line.total > 0;
  if (known_total) {
    const double fraction = std::clamp(static_cast<double>(line.step) / line.total, 0.0, 1.0);
    const int filled = static_cast<int>(fraction * kBarWidth);
    out += fmt::format(" [{}{}] {}/{}", std::string(filled, '#'),
                       std::string(kBarWidth - filled, '.'), line.step, line.total);
  } else {
    out += fmt::format(" {}", line.step);
  }
  const double rate = line.elapsed_seconds > 0 ? line.step / line.elapsed_seconds : 0.0;
  if (rate > 0)
    out += rate >= 10 ? fmt::format("  {:.0f} it/s", rate) : fmt::format("  {:.2f} it/s", rate);
  if (std::isfinite(line.loss)) out += fmt::format("  loss {:.4f}", line.loss);
  if (known_total && line.step < line.total && rate > 0)
    out += "  ETA " + format_duration(static_cast<double>(line.total - line.step) / rate);
  else if (known_total && line.step >= line.total)
    out += "  " + format_duration(line.elapsed_seconds);
  if (!line.note.empty()) out += "  " + line.note;
  return out;
}

ProgressBar::ProgressBar(std::string label, int64_t total_steps, bool quiet)
    : ProgressBar(std::move(label), total_steps, quiet ? nullptr : stderr,
                  isatty(STDERR_FILENO) == 1) {}

ProgressBar::ProgressBar(std::string label, int64_t total_steps, std::FILE* stream,
                         bool is_terminal)
    : stream_(stream),
      terminal_(is_terminal),
      label_(std::move(label)),
      total_(total_steps),
      start_(Clock::now()),
      last_draw_(start_) {
  if (stream_ && terminal_) draw();
}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::step(double loss) {
  ++steps_;
  if (std::isfinite(loss)) {
    loss_average_ = kLossMomentum * loss_average_ + (1 - kLossMomentum) * loss;
    ++losses_seen_;
  }
  if (!stream_ || !terminal_ || finished_) return;
  const auto now = Clock::now();
  if (std::chrono::duration<double>(now - last_draw_).count() >= kMinSecondsBetweenDraws ||
      steps_ == total_)
    draw();
}

void ProgressBar::set_note(std::string note) {
  note_ = std::move(note);
  drawn_steps_ = -1;  // finish() must show it
}

void ProgressBar::finish() {
  if (finished_) return;
  finished_ = true;
  if (!stream_) return;
  if (!terminal_ || drawn_steps_ != steps_) draw();  // the last step may have drawn it already
  std::fputc('\n', stream_);
  std::fflush(stream_);
}

double ProgressBar::smoothed_loss() const {
  if (losses_seen_ == 0) return std::numeric_limits<double>::quiet_NaN();
  return loss_average_ / (1 - std::pow(kLossMomentum, static_cast<double>(losses_seen_)));
}

double ProgressBar::elapsed_seconds() const {
  return std::chrono::duration<double>(Clock::now() - start_).count();
}

void ProgressBar::draw() {
  last_draw_ = Clock::now();
  drawn_steps_ = steps_;
  const std::string line = format_progress_line({.label = label_,
                                                 .step = steps_,
                                                 .total = total_,
                                                 .elapsed_seconds = elapsed_seconds(),
                                                 .loss = smoothed_loss(),
                                                 .note = note_});
  // "\x1b[K" clears what a longer previous line left to the right; off a terminal the line is
  // written once, plainly.
  if (terminal_)
    std::fprintf(stream_, "\r%s\x1b[K", line.c_str());
  else
    std::fprintf(stream_, "%s", line.c_str());
  std::fflush(stream_);
}

SweepProgress::SweepProgress(std::string label, int64_t total_runs, bool quiet, std::FILE* stream)
    : stream_(quiet ? nullptr : stream),
      label_(std::move(label)),
      total_(total_runs),
      start_(std::chrono::steady_clock::now()) {}

void SweepProgress::run_done(const std::string& what) {
  ++done_;
  if (!stream_) return;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const std::string line = format_progress_line(
      {.label = label_, .step = done_, .total = total_, .elapsed_seconds = elapsed, .note = what});
  std::fprintf(stream_, "%s\n", line.c_str());
  std::fflush(stream_);
}

}  // namespace dg::train
