/* libFuzzer target: the llama-perplexity log reader, then the check of a
 * log against a model's facts. */
#include <stddef.h>
#include <stdint.h>

#include "pplog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	qp_pplog p;
	qp_err e;
	if (size > 1 << 20)
		return 0;
	if (qp_pplog_parse((const char *)data, size, &p, &e) == 0)
		qp_pplog_check_model(&p, "dir/q.gguf", 39, 2259456, 3672320, &e);
	return 0;
}
