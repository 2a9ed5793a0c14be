#!/bin/sh
test_description='gguf-synth: deterministic llama-shaped synthetic checkpoints'
. "$(dirname "$0")/lib.sh"

test_expect_success 'the tiny preset is a valid llama GGUF of a few MB' '
	gguf-synth -o tiny.gguf &&
	size=$(wc -c <tiny.gguf) && test $size -gt 1000000 && test $size -lt 20000000 &&
	gguf-dump tiny.gguf | rec-show --tsv -k model -H -f arch,hyper.n_layer,hyper.n_embd,hyper.n_ff,hyper.n_vocab,gguf.n_tensors >actual &&
	printf "llama\t4\t256\t768\t1024\t39\n" >expect && test_cmp expect actual
'

test_expect_success 'same seed, same bytes, whatever the thread count; other seed differs' '
	gguf-synth -@ 2 >tiny2.gguf && cmp tiny.gguf tiny2.gguf &&
	gguf-synth --seed 2 -o seed2.gguf && ! cmp -s tiny.gguf seed2.gguf
'

# The bytes are pinned: benchmarks and tests compare figures measured on
# these models across versions.  A deliberate change of the generator
# updates the checksums here (cksum, POSIX CRC and length) and says so.
test_expect_success 'the bytes of tiny and wide (seed 1) are the pinned ones' '
	gguf-synth -p wide -o wide.gguf &&
	cksum <tiny.gguf >actual && cksum <wide.gguf >>actual &&
	printf "621823038 7374784\n3994830866 12119424\n" >expect &&
	test_cmp expect actual
'

test_expect_success 'the 7b preset has Llama-2-7B shapes; --sparse leaves a hole' '
	gguf-synth --preset 7b --sparse -o 7b.gguf &&
	gguf-dump 7b.gguf | rec-show --tsv -k model -H -f n_params,hyper.n_layer,hyper.n_embd,hyper.n_ff,hyper.n_head,hyper.n_vocab >actual &&
	printf "6738415616\t32\t4096\t11008\t32\t32000\n" >expect && test_cmp expect actual &&
	blocks=$(du -k 7b.gguf | cut -f1) && test $blocks -lt 100000
'

test_expect_success 'norms are F32 near 1; weights F16 with heavy tails' '
	gguf-dump tiny.gguf | rec-show --tsv -H -f name,type | sort -u -k2 | cut -f2 | sort -u >types &&
	printf "F16\nF32\n" >expect && test_cmp expect types
'

test_expect_success '--type F32 and BF16; bad values are usage errors' '
	gguf-synth -t F32 -o f32.gguf && gguf-synth -t bf16 -o bf16.gguf &&
	gguf-dump f32.gguf | rec-show --tsv -H -f type | sort -u >t && printf "F32\n" >expect && test_cmp expect t &&
	test_must_fail 2 gguf-synth -t Q4_0 -o x.gguf 2>err && grep -q "F32, F16 or BF16" err &&
	test_must_fail 2 gguf-synth -p 3b -o x.gguf 2>err && grep -q "unknown preset" err &&
	test ! -e x.gguf
'

test_done
