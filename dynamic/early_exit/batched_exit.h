// Early-exit inference at any batch size. After each block the exit rule decides which samples
// stop; those leave the batch (compaction, dynamic/routing.h), so every later block, head and check
// runs on the still-running rows only, and a sample that stopped costs nothing more. The public
// references of these methods (DeeBERT, PABEE, FastBERT) run at batch size 1; at larger batches
// they keep computing every sample until all have stopped.
//
// Cost is measured, not estimated: each step (block i, its exit head and the rule's check) runs
// inside a FlopScope and its measured FLOPs are shared among the rows that ran it; a sample's FLOPs
// are the sum of its shares over the steps it took. A batched block does the same work for every
// row, so a share is what the sample costs alone, except for work done once per call whatever the
// rows (batch norm's per-channel scale in eval mode), which the rows of a batch share.
// early_exit_per_sample is the reference: the same model and rule, one sample at a time, with no
// compaction; the two agree on every prediction, exit and logit, and on the FLOPs up to those
// per-call costs (exactly, for the transformer).
#pragma once

#include <cstdint>
#include <vector>

#include "dynamic/early_exit/exit_rule.h"
#include "dynamic/early_exit/multi_exit.h"

namespace dg::dynamic::early_exit {

struct EarlyExitResult {
  int64_t classes = 0;
  // Per sample of the batch:
  std::vector<int64_t> prediction;
  std::vector<int64_t> exit_index;   // the exit it stopped at (0-based)
  std::vector<int64_t> flops;        // measured FLOPs of the steps it took
  std::vector<double> exit_logits;   // row-major [B, classes]: its logits at that exit
  // Per block: how many samples ran it and its measured FLOPs (block, head and check; the first
  // block's include the model's entry, e.g. the embedding).
  std::vector<int64_t> rows_per_block;
  std::vector<int64_t> block_flops;
  int64_t total_flops = 0;  // everything the call executed, compaction included
  double seconds = 0;       // wall time of the call

  int64_t batch() const { return static_cast<int64_t>(prediction.size()); }
  double mean_exit() const;  // mean exit index + 1: the average number of blocks run
};

// Runs under NoGradGuard. The model must be in eval mode (dropout off, batch norm on its running
// statistics; a dg::Error otherwise), as a model whose rows depend on each other cannot exit per
// sample.
EarlyExitResult early_exit(MultiExitModel& model, ExitRule& rule, const Tensor& input,
                           const Tensor& mask = Tensor());

// The reference: sample by sample (batch 1), no compaction.
EarlyExitResult early_exit_per_sample(MultiExitModel& model, ExitRule& rule, const Tensor& input,
                                      const Tensor& mask = Tensor());

}  // namespace dg::dynamic::early_exit
