#!/bin/sh
test_description='common/ layers: no include goes up a layer, msgpack.h only in the record layer, every module listed in common/README'
. "$(dirname "$0")/lib.sh"

# check_layers ROOT: prints one line per violation in ROOT/common, and
# fails when there is any.  The layer order and the modules of each layer
# come from ROOT/common/README.
check_layers() {
	root=$1
	readme=$root/common/README
	order=$(sed -n 's/^layers (lowest first): *//p' "$readme")
	[ -n "$order" ] || { echo "no 'layers (lowest first):' line in $readme"; return 1; }
	awk -v order="$order" -v root="$root" '
	function rank_of(l,   i) { for (i = 1; i <= n_layers; i++) if (layers[i] == l) return i; return 0 }
	BEGIN {
		n_layers = split(order, layers, " ")
		bad = 0
	}
	# README: "name/   text" opens a layer, "  module  text" lists a module
	FILENAME ~ /README$/ {
		if ($0 ~ /^[a-z_]+\/ /) { cur = substr($1, 1, length($1) - 1); next }
		if (cur != "" && $0 ~ /^  [a-z_0-9]+/) listed[cur "/" $1] = 1
		next
	}
	FNR == 1 {
		path = FILENAME; sub("^" root "/common/", "", path)
		split(path, p, "/"); layer = p[1]; file = p[2]
		module = file; sub(/\.[ch]$/, "", module)
		if (!rank_of(layer)) { print "common/" path ": folder " layer " is not a layer of common/README"; bad = 1 }
		if (!((layer "/" module) in listed)) { print "common/" path ": module " module " has no line under " layer "/ in common/README"; bad = 1 }
	}
	/^[ \t]*#[ \t]*include[ \t]*</ && /<msgpack(\/[^>]*)?\.h>|<msgpack\.h>/ {
		if (layer != "stream" && module !~ /_rec$/) {
			print "common/" path ":" FNR ": includes msgpack.h outside the record layer (stream/ and *_rec modules)"; bad = 1
		}
	}
	/^[ \t]*#[ \t]*include[ \t]*"/ {
		h = $0; sub(/^[^"]*"/, "", h); sub(/".*/, "", h)
		if (!(h in where)) {
			cmd = "cd \"" root "/common\" && ls */" h " " h " 2>/dev/null | head -n 1"
			w = ""; cmd | getline w; close(cmd)
			where[h] = w
		}
		w = where[h]
		if (w == "") { print "common/" path ":" FNR ": includes " h ", which is not in common/"; bad = 1; next }
		if (w !~ /\//) next # a flat module not given its layer yet
		split(w, q, "/")
		if (rank_of(q[1]) > rank_of(layer)) {
			print "common/" path ":" FNR ": includes " h " from " q[1] "/, a layer above " layer "/"; bad = 1
		}
	}
	END { exit bad }
	' "$readme" "$root"/common/*/*.[ch]
}

test_expect_success 'no include goes up a layer; msgpack.h only in the record layer; README lists every module' '
	check_layers "$QP_TOP"
'

# The checker itself, on a copy with one fault at a time.
copy_tree() {
	rm -rf tree && mkdir -p tree && cp -R "$QP_TOP/common" tree/
}

test_expect_success 'an include of a higher layer is found' '
	copy_tree &&
	printf "#include \"qerr.h\"\n" >>tree/common/base/buf.c &&
	test_must_fail check_layers "$TRASH/tree" >out &&
	grep -q "base/buf.c:.*includes qerr.h from engines/, a layer above base/" out
'

test_expect_success 'msgpack.h outside the record layer is found' '
	copy_tree &&
	printf "#include <msgpack.h>\n" >>tree/common/stats/svd.c &&
	test_must_fail check_layers "$TRASH/tree" >out &&
	grep -q "stats/svd.c:.*msgpack.h outside the record layer" out
'

test_expect_success 'a module missing from common/README is found' '
	copy_tree &&
	printf "/* x */\n" >tree/common/stats/newmod.h &&
	test_must_fail check_layers "$TRASH/tree" >out &&
	grep -q "module newmod has no line under stats/" out
'

test_expect_success 'includes of the same or a lower layer, and flat modules, are fine' '
	copy_tree &&
	printf "#include \"err.h\"\n#include \"wstats.h\"\n#include \"flatnew.h\"\n" >>tree/common/stats/svd.c &&
	printf "/* x */\n" >tree/common/flatnew.h &&
	check_layers "$TRASH/tree"
'

test_done
