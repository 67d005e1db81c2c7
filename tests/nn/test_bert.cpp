// Tests of the BERT encoder (nn/bert.h). Without the pretrained model: a tiny random BERT saved
// with save_safetensors + a config.json round-trips through load_pretrained_bert; checkpoints and
// configs that do not fit are rejected naming the first mismatch, leaving the model unchanged;
// padded positions do not reach unpadded outputs; float64 gradients agree with finite
// differences; an upcycled MoE with identical experts leaves the model's output unchanged; the
// classification head and the sentence embeddings. With the model (tag [pretrained], skipped
// visibly when scripts/fetch-model.sh has not installed it): all-MiniLM-L6-v2's last hidden
// states and sentence embeddings agree with Hugging Face's BertModel to 1e-4
// (tests/reference/bert_minilm_golden.safetensors, written by bert_minilm_golden.py).
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "dynamic/moe/moe_layer.h"
#include "dynamic/moe/softmax_topk_gate.h"
#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops/functional.h"
#include "engine/random.h"
#include "nn/bert.h"
#include "nn/checkpoint.h"
#include "nn/init.h"
#include "tests/engine/test_util.h"

using namespace dg;
using namespace dg::nn;
using dg::test::max_abs_diff;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() / fmt::format("dg_test_bert_{}_{}", ::getpid(), counter++);
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

BertConfig tiny_config() {
  BertConfig c;
  c.vocab_size = 50;
  c.hidden_size = 16;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.intermediate_size = 32;
  c.max_position_embeddings = 24;
  c.type_vocab_size = 2;
  c.pad_token_id = 0;
  c.layer_norm_eps = 1e-12;
  c.hidden_dropout_prob = 0.1;
  c.attention_probs_dropout_prob = 0.1;
  // A larger init than BERT's 0.02 so that the layers do visibly more than the identity.
  c.initializer_range = 0.3;
  return c;
}

std::string config_json(const BertConfig& c, const std::string& act = "gelu") {
  return fmt::format(
      R"({{"architectures": ["BertModel"], "model_type": "bert", "vocab_size": {}, "hidden_size": {},
"num_hidden_layers": {}, "num_attention_heads": {}, "intermediate_size": {}, "hidden_act": "{}",
"layer_norm_eps": {}, "max_position_embeddings": {}, "type_vocab_size": {}, "pad_token_id": {},
"hidden_dropout_prob": {}, "attention_probs_dropout_prob": {}, "position_embedding_type": "absolute"}})",
      c.vocab_size, c.hidden_size, c.num_hidden_layers, c.num_attention_heads,
      c.intermediate_size, act, c.layer_norm_eps, c.max_position_embeddings, c.type_vocab_size,
      c.pad_token_id, c.hidden_dropout_prob, c.attention_probs_dropout_prob);
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// Writes dir/config.json and dir/model.safetensors for `model` (state optionally edited).
void write_model_dir(const TempDir& dir, const BertConfig& c, const StateDict& state) {
  write_text(dir.file("config.json"), config_json(c));
  save_safetensors(dir.file("model.safetensors"), state);
}

// Message of the dg::Error that fn throws ("" when it throws none).
template <class F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A batch of 3 sequences of length 7, the last two padded.
struct Batch {
  Tensor ids, mask, types;
};
Batch tiny_batch() {
  Batch b;
  b.ids = tensor_i64({2, 5, 7, 9, 11, 13, 3,   //
                      2, 8, 6, 4, 3, 0, 0,     //
                      2, 17, 3, 0, 0, 0, 0},
                     {3, 7});
  b.mask = tensor_i64({1, 1, 1, 1, 1, 1, 1,  //
                       1, 1, 1, 1, 1, 0, 0,  //
                       1, 1, 1, 0, 0, 0, 0},
                      {3, 7});
  b.types = tensor_i64({0, 0, 0, 1, 1, 1, 1,  //
                        0, 0, 0, 1, 1, 0, 0,  //
                        0, 0, 0, 0, 0, 0, 0},
                       {3, 7});
  return b;
}

Tensor parameter(const Module& m, const std::string& name) {
  for (const auto& [n, t] : m.named_parameters())
    if (n == name) return t;
  FAIL("no parameter " << name);
  return Tensor();
}

}  // namespace

TEST_CASE("BertModel has Hugging Face's parameter names and shapes", "[bert]") {
  Generator gen(1);
  BertModel model(tiny_config(), {.generator = &gen});
  const auto state = model.state_dict();
  // 5 embedding tensors, 16 per layer, 2 in the pooler.
  CHECK(state.size() == 5 + 16 * 2 + 2);
  for (const char* name :
       {"embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
        "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight",
        "embeddings.LayerNorm.bias", "encoder.layer.0.attention.self.query.weight",
        "encoder.layer.0.attention.self.key.bias", "encoder.layer.1.attention.self.value.weight",
        "encoder.layer.1.attention.output.dense.weight",
        "encoder.layer.1.attention.output.LayerNorm.bias",
        "encoder.layer.0.intermediate.dense.weight", "encoder.layer.0.output.dense.bias",
        "encoder.layer.1.output.LayerNorm.weight", "pooler.dense.weight", "pooler.dense.bias"}) {
    INFO(name);
    CHECK(state.count(name) == 1);
  }
  CHECK(state.at("encoder.layer.0.intermediate.dense.weight").shape() == Shape{32, 16});
  CHECK(state.at("encoder.layer.0.output.dense.weight").shape() == Shape{16, 32});
  CHECK(model.num_parameters() == tiny_config().num_parameters());
  // The padding row of the word embeddings starts at zero (Hugging Face's init).
  CHECK(max(abs(select(model.embeddings->word_embeddings->weight, 0, 0))).item<double>() == 0.0);
}

TEST_CASE("load_pretrained_bert round-trips a tiny random BERT", "[bert]") {
  TempDir dir;
  Generator gen(2);
  BertModel model(tiny_config(), {.generator = &gen});
  model.eval();
  write_model_dir(dir, tiny_config(), model.state_dict());
  auto loaded = load_pretrained_bert(dir.path.string());
  CHECK_FALSE(loaded->is_training());
  const Batch b = tiny_batch();
  const auto expected = model.forward(b.ids, b.mask, b.types);
  const auto got = loaded->forward(b.ids, b.mask, b.types);
  REQUIRE(got.last_hidden_state.shape() == Shape{3, 7, 16});
  REQUIRE(got.pooler_output.shape() == Shape{3, 16});
  CHECK(max_abs_diff(got.last_hidden_state, expected.last_hidden_state) == 0.0);
  CHECK(max_abs_diff(got.pooler_output, expected.pooler_output) == 0.0);
  // The outputs are normalised per token (LayerNorm last) and not constant.
  CHECK(std::abs(mean(select(select(got.last_hidden_state, 0, 2), 0, 0)).item<double>()) < 1e-5);
  CHECK(max_abs_diff(select(got.last_hidden_state, 1, 1), select(got.last_hidden_state, 1, 2)) > 1e-2);

  SECTION("in float64") {
    auto loaded64 = load_pretrained_bert(dir.path.string(), {.dtype = DType::f64});
    CHECK(loaded64->dtype() == DType::f64);
    const auto got64 = loaded64->forward(b.ids, b.mask, b.types);
    CHECK(max_abs_diff(got64.last_hidden_state, expected.last_hidden_state) < 1e-5);
  }
}

TEST_CASE("load_pretrained_bert strips a bert. prefix and ignores the known extras", "[bert]") {
  TempDir dir;
  Generator gen(3);
  BertModel model(tiny_config(), {.generator = &gen});
  model.eval();
  StateDict state;
  for (const auto& [name, t] : model.state_dict()) {
    // Old checkpoints name LayerNorm's parameters gamma and beta.
    std::string n = name;
    if (n == "embeddings.LayerNorm.weight") n = "embeddings.LayerNorm.gamma";
    if (n == "embeddings.LayerNorm.bias") n = "embeddings.LayerNorm.beta";
    state["bert." + n] = t;
  }
  state["bert.embeddings.position_ids"] = reshape(arange(24), {1, 24});
  state["cls.predictions.bias"] = zeros({50});
  write_model_dir(dir, tiny_config(), state);
  auto loaded = load_pretrained_bert(dir.path.string());
  const Batch b = tiny_batch();
  CHECK(max_abs_diff(loaded->forward(b.ids, b.mask).last_hidden_state,
                     model.forward(b.ids, b.mask).last_hidden_state) == 0.0);
}

TEST_CASE("load_pretrained_bert rejects a checkpoint that does not fit, naming the first mismatch",
          "[bert]") {
  TempDir dir;
  Generator gen(4);
  BertModel source(tiny_config(), {.generator = &gen});
  StateDict state = source.state_dict();

  // A model that a failed load must leave unchanged.
  BertModel target(tiny_config(), {.generator = &gen});
  const Tensor before = parameter(target, "embeddings.word_embeddings.weight").clone();
  auto fails_naming = [&](const StateDict& edited, const std::string& expected) {
    save_safetensors(dir.file("model.safetensors"), edited);
    const std::string message = error_of([&] { load_bert_weights(target, dir.file("model.safetensors")); });
    INFO(message);
    CHECK(message.find(expected) != std::string::npos);
    CHECK(message.find("model.safetensors") != std::string::npos);
    CHECK(max_abs_diff(parameter(target, "embeddings.word_embeddings.weight"), before) == 0.0);
  };

  SECTION("a shape that disagrees with the config") {
    StateDict edited = state;
    edited["encoder.layer.1.intermediate.dense.weight"] = zeros({33, 16});
    edited["encoder.layer.1.output.dense.weight"] = zeros({16, 33});  // later in order
    fails_naming(edited, "'encoder.layer.1.intermediate.dense.weight' has shape [33,16]");
  }
  SECTION("a missing tensor") {
    StateDict edited = state;
    edited.erase("encoder.layer.0.attention.self.key.bias");
    edited.erase("pooler.dense.bias");
    fails_naming(edited, "no tensor 'encoder.layer.0.attention.self.key.bias'");
  }
  SECTION("an unexpected tensor") {
    StateDict edited = state;
    edited["encoder.layer.2.output.dense.weight"] = zeros({16, 32});
    fails_naming(edited, "'encoder.layer.2.output.dense.weight'");
  }
  SECTION("a non-floating tensor") {
    StateDict edited = state;
    edited["pooler.dense.bias"] = zeros({16}, DType::i64);
    fails_naming(edited, "'pooler.dense.bias' has dtype i64");
  }
  SECTION("a missing weights file") {
    write_text(dir.file("config.json"), config_json(tiny_config()));
    const std::string message = error_of([&] { load_pretrained_bert(dir.path.string()); });
    CHECK(message.find("model.safetensors") != std::string::npos);
  }
}

TEST_CASE("read_bert_config rejects bad configs naming the file and the field", "[bert]") {
  TempDir dir;
  const std::string path = dir.file("config.json");
  auto fails_naming = [&](const std::string& text, const std::string& expected) {
    write_text(path, text);
    const std::string message = error_of([&] { read_bert_config(path); });
    INFO(message);
    CHECK(message.find(expected) != std::string::npos);
    CHECK(message.find(path) != std::string::npos);
  };
  const BertConfig c = tiny_config();
  auto with = [&](const std::string& field, const std::string& value) {
    std::string text = config_json(c);
    const auto at = text.find("\"" + field + "\": ");
    REQUIRE(at != std::string::npos);
    const auto begin = at + field.size() + 4;
    const auto end = text.find_first_of(",}", begin);
    return text.substr(0, begin) + value + text.substr(end);
  };

  write_text(path, config_json(c, "gelu_new"));
  CHECK(read_bert_config(path).hidden_act == BertActivation::gelu_tanh);
  CHECK(read_bert_config(path).hidden_size == 16);

  fails_naming("{\"vocab_size\": 5,", "not valid JSON");
  fails_naming("[1, 2]", "JSON object");
  fails_naming(R"({"vocab_size": 50, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 32})",
               "no field 'hidden_size'");
  fails_naming(with("hidden_size", "18"), "hidden_size = 18 is not divisible by num_attention_heads = 4");
  fails_naming(with("hidden_size", "\"16\""), "'hidden_size' must be an integer");
  fails_naming(with("num_hidden_layers", "0"), "'num_hidden_layers' = 0");
  fails_naming(with("intermediate_size", "-3"), "'intermediate_size' = -3");
  fails_naming(with("vocab_size", "100000000000"), "'vocab_size' = 100000000000");
  fails_naming(with("hidden_act", "\"swish\""), "'hidden_act' = \"swish\"");
  fails_naming(with("layer_norm_eps", "0"), "'layer_norm_eps'");
  fails_naming(with("hidden_dropout_prob", "1.5"), "'hidden_dropout_prob'");
  fails_naming(with("pad_token_id", "50"), "'pad_token_id' = 50");
  fails_naming(with("position_embedding_type", "\"relative_key\""), "'position_embedding_type'");
  // Each size within its cap, the whole beyond the parameter cap.
  {
    std::string text = with("vocab_size", "4000000");
    write_text(path, text);
    BertConfig big = read_bert_config(path);
    big.hidden_size = 16384;
    big.num_attention_heads = 1;
    CHECK(error_of([&] { big.validate("big"); }).find("parameters, more than the cap") != std::string::npos);
  }
  const std::string missing = dir.file("absent/config.json");
  CHECK(error_of([&] { read_bert_config(missing); }).find(missing) != std::string::npos);
}

TEST_CASE("BertModel::forward rejects bad inputs naming the argument and shapes", "[bert]") {
  Generator gen(5);
  BertModel model(tiny_config(), {.generator = &gen});
  const Batch b = tiny_batch();
  auto message = [&](auto fn) { return error_of(fn); };
  CHECK(message([&] { model.forward(to_dtype(b.ids, DType::f32)); }).find("input_ids must be i64") != std::string::npos);
  CHECK(message([&] { model.forward(reshape(b.ids, {21})); }).find("[B, L]") != std::string::npos);
  CHECK(message([&] { model.forward(full({1, 25}, 2.0, DType::i64)); }).find("max_position_embeddings") != std::string::npos);
  CHECK(message([&] { model.forward(full({1, 3}, 50.0, DType::i64)); }).find("holds 50") != std::string::npos);
  CHECK(message([&] { model.forward(full({1, 3}, -1.0, DType::i64)); }).find("holds -1") != std::string::npos);
  CHECK(message([&] { model.forward(b.ids, ones({3, 6}, DType::i64)); }).find("attention_mask has shape [3,6]") != std::string::npos);
  CHECK(message([&] { model.forward(b.ids, full({3, 7}, 2.0, DType::i64)); }).find("0 or 1") != std::string::npos);
  CHECK(message([&] { model.forward(b.ids, zeros({3, 7}, DType::i64)); }).find("masks every position") != std::string::npos);
  CHECK(message([&] { model.forward(b.ids, b.mask, full({3, 7}, 2.0, DType::i64)); }).find("type_vocab_size") != std::string::npos);
}

TEST_CASE("BERT: padded positions do not change the unpadded outputs", "[bert]") {
  Generator gen(6);
  BertModel model(tiny_config(), {.generator = &gen});
  model.eval();
  const Batch b = tiny_batch();
  const auto base = model.forward(b.ids, b.mask, b.types);
  // Other ids (and token types) at the padded positions.
  const Tensor pad = eq(b.mask, 0.0);
  const Tensor other_ids = where(pad, full({3, 7}, 41.0, DType::i64), b.ids);
  const Tensor other_types = where(pad, ones({3, 7}, DType::i64), b.types);
  const auto changed = model.forward(other_ids, b.mask, other_types);
  const Tensor keep = unsqueeze(to_dtype(b.mask, DType::f32), -1);
  CHECK(max_abs_diff(mul(base.last_hidden_state, keep), mul(changed.last_hidden_state, keep)) < 1e-6);
  CHECK(max_abs_diff(base.pooler_output, changed.pooler_output) < 1e-6);
  CHECK(max_abs_diff(sentence_embeddings(model, b.ids, b.mask), sentence_embeddings(model, other_ids, b.mask)) < 1e-6);
  // Without the mask the padded ids do reach the other positions: the check above can fail.
  CHECK(max_abs_diff(model.forward(b.ids).pooler_output, model.forward(other_ids).pooler_output) > 1e-4);
  // A sequence alone, unpadded, gives what it gives inside the padded batch.
  const Tensor alone = model.forward(narrow(narrow(b.ids, 0, 2, 1), 1, 0, 3)).last_hidden_state;
  CHECK(max_abs_diff(alone, narrow(narrow(base.last_hidden_state, 0, 2, 1), 1, 0, 3)) < 1e-5);
}

TEST_CASE("BERT: float64 gradients match finite differences", "[bert]") {
  BertConfig c = tiny_config();
  c.num_hidden_layers = 1;
  c.intermediate_size = 8;
  c.hidden_size = 8;
  c.num_attention_heads = 2;
  Generator gen(7);
  BertModel model(c, {.generator = &gen, .dtype = DType::f64});
  model.eval();
  const Batch b = tiny_batch();
  const Tensor v = dg::test::uniform_f64({3, 7, 8}, 11);
  const Tensor w = dg::test::uniform_f64({3, 8}, 12);
  auto objective = [&] {
    const auto out = model.forward(b.ids, b.mask, b.types);
    return add(sum(mul(out.last_hidden_state, v)), sum(mul(out.pooler_output, w)));
  };
  model.zero_grad();
  objective().backward();
  const double eps = 1e-6;
  int checked = 0;
  for (const char* name :
       {"embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
        "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight",
        "encoder.layer.0.attention.self.query.weight", "encoder.layer.0.attention.self.key.bias",
        "encoder.layer.0.attention.self.value.weight", "encoder.layer.0.attention.output.dense.weight",
        "encoder.layer.0.attention.output.LayerNorm.bias", "encoder.layer.0.intermediate.dense.weight",
        "encoder.layer.0.output.dense.weight", "encoder.layer.0.output.LayerNorm.weight",
        "pooler.dense.weight"}) {
    Tensor p = parameter(model, name);
    REQUIRE(p.grad().defined());
    const auto analytic = p.grad().to_vector<double>();
    double* data = p.data<double>();
    // A few entries per tensor, spread over it (the word embeddings' row 2, used by every sequence).
    const int64_t n = p.numel();
    for (int64_t i : {int64_t{2} * p.shape().back() % n, n / 3, n - 1}) {
      const double saved = data[i];
      double plus, minus;
      {
        NoGradGuard no_grad;
        data[i] = saved + eps;
        plus = objective().item<double>();
        data[i] = saved - eps;
        minus = objective().item<double>();
        data[i] = saved;
      }
      const double numeric = (plus - minus) / (2 * eps);
      INFO(name << "[" << i << "] analytic " << analytic[i] << " numeric " << numeric);
      CHECK(std::abs(analytic[i] - numeric) <= 1e-6 * std::max(1.0, std::abs(numeric)));
      ++checked;
    }
  }
  CHECK(checked == 13 * 3);
}

TEST_CASE("BERT: an upcycled MoE with identical experts leaves the output unchanged", "[bert]") {
  BertConfig c = tiny_config();
  Generator gen(8);
  BertModel model(c, {.generator = &gen});
  model.eval();
  const Batch b = tiny_batch();
  const auto dense = model.forward(b.ids, b.mask, b.types);
  for (auto& layer : model.encoder->layers) {
    REQUIRE(layer->has_dense_feed_forward());
    // A gate with random weights whose top-2 weights are renormalised to sum to 1 per token.
    auto gate = std::make_shared<dynamic::SoftmaxTopKGate>(c.hidden_size, 4, 2, dynamic::SoftmaxTopKOptions{},
                                                           ParamOptions{.generator = &gen});
    init::normal_(gate->router->weight, 0.0, 1.0, &gen);
    auto moe = dynamic::MoE::upcycle(layer->intermediate_dense(), layer->output_dense(), gate,
                                     {.activation = dynamic::ExpertActivation::gelu}, 0.0);
    layer->replace_feed_forward(moe);
    CHECK_FALSE(layer->has_dense_feed_forward());
    CHECK(error_of([&] { layer->intermediate_dense(); }).find("replaced") != std::string::npos);
  }
  model.eval();
  const auto upcycled = model.forward(b.ids, b.mask, b.types);
  CHECK(max_abs_diff(upcycled.last_hidden_state, dense.last_hidden_state) < 1e-5);
  CHECK(max_abs_diff(upcycled.pooler_output, dense.pooler_output) < 1e-5);
  // The dense FFN's parameters left the state dict; the experts and output.LayerNorm are there.
  const auto state = model.state_dict();
  CHECK(state.count("encoder.layer.0.intermediate.dense.weight") == 0);
  CHECK(state.count("encoder.layer.0.output.dense.weight") == 0);
  CHECK(state.count("encoder.layer.0.output.LayerNorm.weight") == 1);
  CHECK(state.at("encoder.layer.1.feed_forward.w1").shape() == Shape{4, 16, 32});
  CHECK(state.count("encoder.layer.1.feed_forward.gate.router.weight") == 1);

  // Experts that differ change the output: the comparison above can fail.
  auto& layer = *model.encoder->layers[0];
  auto moe = std::static_pointer_cast<dynamic::MoE>(layer.feed_forward_module());
  {
    NoGradGuard no_grad;
    Tensor first_expert = select(moe->w2, 0, 0);
    first_expert.add_(randn(first_expert.shape(), gen) * 0.1);
  }
  CHECK(max_abs_diff(model.forward(b.ids, b.mask, b.types).last_hidden_state, dense.last_hidden_state) > 1e-3);
}

TEST_CASE("BertForSequenceClassification: names, logits and losses", "[bert]") {
  Generator gen(9);
  BertForSequenceClassification model(tiny_config(), 3, {.generator = &gen});
  const auto state = model.state_dict();
  CHECK(state.count("bert.encoder.layer.1.output.dense.weight") == 1);
  CHECK(state.at("classifier.weight").shape() == Shape{3, 16});
  model.train();
  const Batch b = tiny_batch();
  const Tensor logits = model.forward(b.ids, b.mask, b.types);
  REQUIRE(logits.shape() == Shape{3, 3});
  const Tensor loss = model.loss(logits, tensor_i64({0, 2, 1}));
  CHECK(loss.dim() == 0);
  loss.backward();
  CHECK(max(abs(parameter(model, "bert.encoder.layer.0.attention.self.query.weight").grad())).item<double>() > 0.0);
  CHECK(error_of([&] { model.loss(logits, tensor({0, 1, 2})); }).find("i64") != std::string::npos);

  BertForSequenceClassification regression(tiny_config(), 1, {.generator = &gen});
  regression.eval();
  const Tensor scores = regression.forward(b.ids, b.mask);
  REQUIRE(scores.shape() == Shape{3, 1});
  const Tensor target = tensor({0.5f, 1.0f, -2.0f});
  CHECK(regression.loss(scores, target).item<double>() ==
        Approx(mean(pow(sub(reshape(scores, {3}), target), 2.0)).item<double>()));

  // From a BERT-format folder: the encoder loaded, the head fresh.
  TempDir dir;
  BertModel encoder(tiny_config(), {.generator = &gen});
  write_model_dir(dir, tiny_config(), encoder.state_dict());
  auto loaded = load_pretrained_bert_for_classification(dir.path.string(), 2);
  CHECK(max_abs_diff(parameter(*loaded, "bert.pooler.dense.weight"), encoder.pooler->dense->weight) == 0.0);

  // A fine-tuned checkpoint (bert.* and classifier.*) loads whole, head included.
  TempDir tuned_dir;
  write_model_dir(tuned_dir, tiny_config(), model.state_dict());
  auto tuned = load_pretrained_bert_for_classification(tuned_dir.path.string(), 3);
  model.eval();
  tuned->eval();
  CHECK(max_abs_diff(tuned->forward(b.ids, b.mask, b.types), model.forward(b.ids, b.mask, b.types)) == 0.0);
  // ... and a head of another size is an error naming it.
  CHECK(error_of([&] { load_pretrained_bert_for_classification(tuned_dir.path.string(), 2); })
            .find("'classifier.weight'") != std::string::npos);
}

TEST_CASE("mean_pool and sentence_embeddings", "[bert]") {
  const Tensor hidden = reshape(arange(0.0, 12.0, 1.0, DType::f32), {2, 3, 2});
  const Tensor mask = tensor_i64({1, 1, 0, 1, 0, 0}, {2, 3});
  const Tensor pooled = mean_pool(hidden, mask);
  CHECK(max_abs_diff(pooled, tensor({1, 2, 6, 7}, {2, 2})) == 0.0);
  CHECK(error_of([&] { mean_pool(hidden, ones({2, 4})); }).find("mean_pool") != std::string::npos);

  Generator gen(10);
  BertModel model(tiny_config(), {.generator = &gen});
  model.eval();
  const Batch b = tiny_batch();
  const Tensor e = sentence_embeddings(model, b.ids, b.mask);
  REQUIRE(e.shape() == Shape{3, 16});
  CHECK(max_abs_diff(norm(e, 2.0, {1}), ones({3})) < 1e-6);
}

TEST_CASE("default_model_dir follows DG_MODEL_DIR, then XDG_CACHE_HOME", "[bert]") {
  const char* saved = std::getenv("DG_MODEL_DIR");
  const std::string saved_value = saved ? saved : "";
  ::setenv("DG_MODEL_DIR", "/some/where", 1);
  CHECK(default_model_dir() == "/some/where");
  ::unsetenv("DG_MODEL_DIR");
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const std::string xdg_value = xdg ? xdg : "";
  ::setenv("XDG_CACHE_HOME", "/cache", 1);
  CHECK(default_model_dir() == "/cache/dyngrad/models/all-MiniLM-L6-v2");
  if (xdg) ::setenv("XDG_CACHE_HOME", xdg_value.c_str(), 1); else ::unsetenv("XDG_CACHE_HOME");
  if (saved) ::setenv("DG_MODEL_DIR", saved_value.c_str(), 1);
  CHECK_FALSE(pretrained_model_available("/nonexistent/dir"));
}

TEST_CASE("all-MiniLM-L6-v2 matches PyTorch (needs the model: scripts/fetch-model.sh)",
          "[bert][pretrained]") {
  const std::string dir = default_model_dir();
  if (!pretrained_model_available(dir)) {
    WARN("skipped: no pretrained model in " << dir << " (run scripts/fetch-model.sh)");
    return;
  }
  const StateDict golden =
      load_safetensors(std::string(DG_TEST_DATA_DIR) + "/reference/bert_minilm_golden.safetensors");
  auto model = load_pretrained_bert(dir);
  REQUIRE(model->config.hidden_size == 384);
  REQUIRE(model->config.num_hidden_layers == 6);
  const Tensor ids = golden.at("input_ids"), mask = golden.at("attention_mask");
  const auto out = model->forward(ids, mask, golden.at("token_type_ids"));
  const Tensor embeddings = sentence_embeddings(*model, ids, mask);
  const double hidden_error = max_abs_diff(out.last_hidden_state, golden.at("last_hidden_state"));
  const double pooler_error = max_abs_diff(out.pooler_output, golden.at("pooler_output"));
  const double embedding_error = max_abs_diff(embeddings, golden.at("sentence_embeddings"));
  INFO("max abs error: hidden " << hidden_error << ", pooler " << pooler_error << ", embeddings "
                                << embedding_error);
  CHECK(hidden_error < 1e-4);
  CHECK(pooler_error < 1e-4);
  CHECK(embedding_error < 1e-4);
  // The reference is not trivially matched: the sentences' embeddings differ from each other.
  CHECK(max_abs_diff(select(embeddings, 0, 0), select(embeddings, 0, 1)) > 0.05);
}
