/* llq_size.h — the exact size of the GGUF llama-quantize writes.
 *
 * Promise: for a source GGUF (parsed header) and the type each tensor will
 * really have, the byte size of the file llama-quantize (release b10573,
 * one output file, no --keep-split, no --prune-layers, no --override-kv)
 * writes, and its bpw as llama-quantize prints it.  The file is:
 * 24 bytes of header; the source's KV pairs with general.quantization_version
 * and general.file_type set as u32 (replaced where present, else added),
 * split.no / split.count / split.tensors.count removed, and, with an
 * importance matrix, quantize.imatrix.file and .dataset (strings cut to 127
 * bytes as llama-quantize's override buffer does), .entries_count and
 * .chunks_count (u32, the last only when positive); the tensor infos (name,
 * ggml_n_dims dimensions, type, offset); zero padding to 32 bytes; then
 * every tensor's data padded to 32 bytes.  bpw = (sum of unpadded tensor
 * bytes) * 8 / (number of elements), llama-quantize's "quant size" line.
 */
#ifndef QP_LLQ_SIZE_H
#define QP_LLQ_SIZE_H

#include <stdint.h>

#include "err.h"
#include "gguf.h"

#define QP_LLQ_ALIGNMENT 32

/* What llama-quantize writes into the header about the imatrix it used. */
typedef struct qp_llq_imatrix_kv {
	const char *file;    /* the path as given to --imatrix */
	const char *dataset; /* NULL: none recorded in the imatrix */
	uint32_t n_entries;
	int32_t n_chunks;    /* <= 0: not written */
} qp_llq_imatrix_kv;

typedef struct qp_llq_layout {
	uint64_t meta_bytes; /* header + KV + tensor infos + padding */
	uint64_t n_kv;
	uint64_t n_elements; /* of every tensor, as llama-quantize counts */
} qp_llq_layout;

/* im may be NULL (no imatrix). */
int qp_llq_layout_of(const qp_gguf *g, const qp_llq_imatrix_kv *im,
		     qp_llq_layout *out, qp_err *e);

/* Bytes a tensor of n_bytes occupies in the data section. */
uint64_t qp_llq_padded(uint64_t n_bytes);

/* bpw as llama-quantize prints it ("%.2f BPW") from the unpadded sum. */
double qp_llq_bpw(uint64_t tensor_bytes, uint64_t n_elements);

#endif
