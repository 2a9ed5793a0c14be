/* fp16.h: half and bfloat16 conversions, exactly as ggml and F16C do them. */
#include <stdlib.h>

#include "../tap.h"
#include "fp16.h"

static void test_known_halves(void)
{
	static const struct {
		uint16_t h;
		uint32_t f;
	} known[] = {
		{0x0000, 0x00000000}, {0x8000, 0x80000000}, {0x3c00, 0x3f800000},
		{0xc000, 0xc0000000}, {0x0001, 0x33800000}, {0x03ff, 0x387fc000},
		{0x7bff, 0x477fe000}, {0x7c00, 0x7f800000}, {0xfc00, 0xff800000},
		{0x7c01, 0x7fc02000}, {0x7e00, 0x7fc00000}, {0xfe01, 0xffc02000},
	};
	int bad = 0;
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		bad += qp_f32_bits(qp_fp16_to_fp32(known[i].h)) != known[i].f;
	ok(bad == 0, "zeros, one, subnormals, max, infinities and NaNs (made quiet) convert exactly");
}

static void test_row_matches_scalar(void)
{
	uint8_t *src = malloc(65536 * 2 + 16);
	float *dst = malloc((65536 + 16) * sizeof *dst);
	for (int i = 0; i < 65536; i++) {
		src[2 * i] = (uint8_t)i;
		src[2 * i + 1] = (uint8_t)(i >> 8);
	}
	long bad = 0;
	for (int off = 0; off < 9; off++) {
		qp_fp16_row_to_fp32(src + 2 * off, dst, 65536 - off);
		for (int i = 0; i < 65536 - off; i++)
			bad += qp_f32_bits(dst[i]) !=
			       qp_f32_bits(qp_fp16_to_fp32((uint16_t)(i + off)));
	}
	ok(bad == 0, "the row conversion gives every half's scalar bits, at every alignment");
	free(src);
	free(dst);
}

static void test_round_trip_and_rounding(void)
{
	long bad = 0;
	for (uint32_t h = 0; h < 65536; h++) {
		float f = qp_fp16_to_fp32((uint16_t)h);
		if (f == f && qp_fp32_to_fp16(f) != h)
			bad++;
	}
	ok(bad == 0, "every non-NaN half survives a round trip through float");
	/* Halfway between 1 and the next half (1 + 2^-10): ties go to even. */
	is_int(qp_fp32_to_fp16(1.0f + 0x1p-11f), 0x3c00, "a tie rounds to even (down)");
	is_int(qp_fp32_to_fp16(1.0f + 3 * 0x1p-11f), 0x3c02, "a tie rounds to even (up)");
	is_int(qp_fp32_to_fp16(65520.0f), 0x7c00, "65520 rounds to infinity");
	is_int(qp_fp32_to_fp16(0x1p-25f), 0x0000, "2^-25 ties to zero");
	is_int(qp_fp32_to_bf16(1.00390625f), 0x3f80, "bf16 ties to even");
	is_int(qp_fp32_to_bf16(qp_f32_from_bits(0x7f800001)), 0x7fc0, "bf16 of a signalling NaN is quiet");
	is_int(qp_fp32_to_fp16(qp_f32_from_bits(0xff80e001)), 0xfe00,
	       "a NaN half is sign | 0x7e00, the payload dropped (ggml's portable conversion)");
}

int main(void)
{
	plan(10);
	test_known_halves();
	test_row_matches_scalar();
	test_round_trip_and_rounding();
	return exit_status();
}
