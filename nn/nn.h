// dyngrad's neural-network library in one include: Module and the init helpers; every layer
// (linear, convolution, normalisation, embedding, dropout, activations, Sequential, recurrent
// cells and LSTM, multi-head attention, transformer layers, ResNet and MobileNetV2 blocks, the
// BERT encoder and its Hugging Face checkpoints); the
// optimizers, gradient clipping, learning-rate schedules and safetensors checkpoints; and the
// functional ops the layers are built on.
#pragma once

#include "engine/ops/functional.h"
#include "nn/attention.h"
#include "nn/basic.h"
#include "nn/bert.h"
#include "nn/bert_config.h"
#include "nn/checkpoint.h"
#include "nn/clip.h"
#include "nn/conv.h"
#include "nn/init.h"
#include "nn/layer_options.h"
#include "nn/linear.h"
#include "nn/lr_schedule.h"
#include "nn/mobilenet_blocks.h"
#include "nn/module.h"
#include "nn/normalization.h"
#include "nn/optim.h"
#include "nn/resnet_blocks.h"
#include "nn/rnn.h"
#include "nn/state_dict.h"
#include "nn/transformer.h"
