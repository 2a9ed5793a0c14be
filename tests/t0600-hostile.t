#!/bin/bash
test_description='hostile input: impossible sizes, corrupt archives, special files, nesting, signals'
. "$(dirname "$0")/lib.sh"

if ! command -v python3 >/dev/null; then
	printf '1..0 # SKIP no python3 (tests/craft.py writes the crafted files)\n'
	exit 0
fi
craft() { python3 "$QP_TOP/tests/craft.py" "$@"; }

# fails_cleanly ERRFILE PATTERN: one error line, naming PATTERN.
fails_cleanly() {
	test_one_error_line "$1" && grep -q -- "$2" "$1"
}

# ---- sizes (issue 12 defects 1 and 2) ----------------------------------

test_expect_success 'F32 tensor of 2^62 elements: gguf-dump names it (row bytes wrapped to 0)' '
	craft big.gguf tensor blk.0.attn_q.weight 0 $((1 << 62)) &&
	test_must_fail 1 gguf-dump big.gguf >out 2>err &&
	fails_cleanly err "blk.0.attn_q.weight.*overflows"
'

test_expect_success 'Q8_0 and F16 tensors whose bytes do not fit are refused too' '
	craft q8.gguf tensor blk.0.ffn_up.weight 8 $((32 << 58)) &&
	test_must_fail 1 gguf-dump q8.gguf >out 2>err &&
	fails_cleanly err "blk.0.ffn_up.weight" &&
	craft f16.gguf tensor blk.0.ffn_up.weight 1 $((1 << 62)),2 &&
	test_must_fail 1 gguf-dump f16.gguf >out 2>err &&
	fails_cleanly err "blk.0.ffn_up.weight"
'

test_expect_success 'a tensor record claiming 2^62 F32 elements is refused by qerr-measure' '
	printf "{\"kind\":\"tensor\",\"model\":\"m\",\"name\":\"blk.0.attn_q.weight\",\"type\":\"F32\",\"shape\":[4611686018427387904],\"n_elem\":4611686018427387904,\"n_bytes\":0,\"path\":\"x\",\"offset\":0}\n" |
		rec-show --from-json >big.mp &&
	test_must_fail 1 qerr-measure -t Q8_0 big.mp >out 2>err &&
	fails_cleanly err "blk.0.attn_q.weight"
'

test_expect_success 'imatrix in_sum2 of shape [2^62] is an error naming it' '
	craft m.gguf tensor blk.0.attn_q.weight 0 8,2 &&
	craft im.gguf tensor blk.0.attn_q.weight.in_sum2 0 $((1 << 62)) \
		tensor blk.0.attn_q.weight.counts 0 1 --kv general.type=str:imatrix &&
	gguf-dump m.gguf >m.mp &&
	test_must_fail 1 sens-score --imatrix im.gguf m.mp >out 2>err &&
	fails_cleanly err "in_sum2" &&
	test_must_fail 1 qerr-measure -t Q8_0 --imatrix im.gguf m.mp >out 2>err &&
	fails_cleanly err "in_sum2"
'

test_expect_success 'imatrix in_sum2 [2^30, 2^30] (2^62 bytes, fits 64 bits) is refused, not allocated' '
	craft im2.gguf tensor blk.0.attn_q.weight.in_sum2 0 $((1 << 30)),$((1 << 30)) \
		tensor blk.0.attn_q.weight.counts 0 $((1 << 30)) --kv general.type=str:imatrix &&
	test_must_fail 1 sens-score --imatrix im2.gguf m.mp >out 2>err &&
	fails_cleanly err "in_sum2.*past the end"

'

test_done
