/* libFuzzer target for the fit-record reader: decode the input as one
 * msgpack value, read it as a fit record (qp_proxy_from_fit), and on
 * success predict a few sums and check the interval brackets the value. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <msgpack.h>

#include "proxy.h"
#include "rec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* As the record reader does: frame the value first, so a claimed
	 * length beyond the bytes never reaches msgpack-c's allocator. */
	size_t len;
	if (qp_msgpack_span(data, size, &len) != 1)
		return 0;
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	size_t off = 0;
	if (msgpack_unpack_next(&u, (const char *)data, len, &off) == MSGPACK_UNPACK_SUCCESS) {
		qp_proxy *p = NULL;
		qp_err e;
		if (qp_proxy_from_fit(&u.data, &p, &e) == 0) {
			static const double sums[] = {0, 1e-9, 0.01, 1, 1e6};
			for (size_t i = 0; i < sizeof sums / sizeof sums[0]; i++) {
				qp_pred pr;
				qp_proxy_predict_at(p, sums[i], 0.9, &pr);
				if (!(pr.lo <= pr.value && pr.value <= pr.hi) && !isnan(pr.value))
					abort();
			}
			qp_proxy_free(p);
		}
	}
	msgpack_unpacked_destroy(&u);
	return 0;
}
