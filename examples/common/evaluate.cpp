// classification_accuracy: see evaluate.h.
#include "examples/common/evaluate.h"

#include "datasets/dataloader.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/ops.h"

namespace dg::experiment {

double classification_accuracy(nn::UnaryModule& model, std::shared_ptr<const data::Dataset> dataset,
                               int64_t batch_size) {
  check(dataset && dataset->size() > 0 && batch_size > 0,
        "classification_accuracy: {} examples, batch size {}", dataset ? dataset->size() : 0,
        batch_size);
  NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  data::DataLoader loader(std::move(dataset), {.batch_size = batch_size});
  double correct = 0;
  for (const data::Batch& batch : loader.epoch(0))
    correct += sum(eq(argmax(model(batch.input), 1), batch.target)).item<double>();
  if (was_training) model.train();
  return correct / static_cast<double>(loader.dataset().size());
}

}  // namespace dg::experiment
