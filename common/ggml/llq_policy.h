/* llq_policy.h — which tensors llama-quantize quantizes at all.
 *
 * Promise: qp_llq_quantizes() answers as llama.cpp's llama-quant.cpp does
 * (release b10573) before any type is chosen: only tensors whose names end
 * in "weight", with at least 2 dimensions, and not one of the kinds it
 * always copies unchanged (norms, MoE router ffn_gate_inp, positional and
 * token-type embeddings, Mamba ssm_conv1d, LFM2 shortconv, RWKV time_mix
 * small weights, T5 attn_rel_b, Gemma-3n altup/laurel/per_layer_model_proj,
 * DeepSeek-V4's ffn_gate_tid2eid, MiniMax's indexer projections, multimodal
 * position/patch/SAM tensors, audio codebooks).  Such tensors keep their
 * source type.  (--leave-output-tensor, which also keeps output.weight, is
 * llq_mix.h's.)
 */
#ifndef QP_LLQ_POLICY_H
#define QP_LLQ_POLICY_H

#include <stdbool.h>

bool qp_llq_quantizes(const char *name, int n_dims);

#endif
