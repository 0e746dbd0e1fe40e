//! Debian's arm64 busybox-static under the runner against the same version's
//! amd64 build run natively: each case runs both in fresh temporary
//! directories holding identical input files, and compares stdout, stderr
//! (busybox and temp dir paths normalised) and the exit status, including
//! death by a signal. Each case also states the status the native run must
//! have, so a broken fixture cannot make both sides agree on failure.
//!
//! Fixtures: `scripts/fixtures.sh` (see docs/TESTING.md).

mod common;

use common::{Outcome, Status, TempDir};
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A fixed mtime for every input file, so `ls -l`, `tar` and `diff -u`
/// headers are the same in both directories (2001-09-09 01:46:40 UTC).
const MTIME: u64 = 1_000_000_000;

fn busybox(arch: &str) -> Option<PathBuf> {
    common::fixture(
        common::cache_dir()
            .join("busybox")
            .join(arch)
            .join("busybox"),
        "scripts/fixtures.sh",
    )
}

fn write(dir: &Path, name: &str, data: &[u8]) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(&path, data).unwrap();
}

fn set_mtimes(path: &Path) {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(MTIME);
    if path.is_dir() {
        for e in fs::read_dir(path).unwrap() {
            set_mtimes(&e.unwrap().path());
        }
    }
    let f = fs::File::open(path).unwrap();
    f.set_modified(t).unwrap();
}

/// The same input files in every test directory.
fn populate(dir: &Path) {
    write(
        dir,
        "words.txt",
        b"banana\napple\ncherry\napple\nbanana\nbanana\ndate\n",
    );
    write(
        dir,
        "words2.txt",
        b"banana\napple\ncherry pie\napple\nbanana\ndate\nelderberry\n",
    );
    write(dir, "nums.txt", b"10\n2\n33\n4\n-5\n100\n2\n");
    write(
        dir,
        "data.csv",
        b"name,age,city\nalice,30,paris\nbob,25,berlin\ncarol,35,rome\ndave,41,oslo\n",
    );
    write(
        dir,
        "tabs.txt",
        b"a\tb\tc\n\tindented\nlong column\tx\ttail  spaces  \n",
    );
    write(
        dir,
        "text.txt",
        b"The quick brown fox jumps over the lazy dog.\n\
          Pack my box with five dozen liquor jugs!\n\
          How vexingly quick daft zebras jump;   sphinx of black quartz, judge my vow.\n",
    );
    let bin: Vec<u8> = (0..1024u32).map(|i| (i % 256) as u8).collect();
    write(dir, "bin.dat", &bin);
    let mut big = String::new();
    for i in 0..3000u64 {
        big += &format!("line {i:04} value {} word{}\n", (i * i) % 997, i % 13);
    }
    write(dir, "big.txt", big.as_bytes());
    write(dir, "tree/a/b/c.txt", b"deep file\n");
    write(dir, "tree/a/d.txt", b"d\nd\n");
    write(dir, "tree/e.txt", b"e\n");
    write(dir, "tree/f.dat", &bin[..100]);
    set_mtimes(dir);
}

/// Runs `busybox ARGS` natively (amd64) and under the runner (arm64) and
/// compares; `want` is the native run's expected status.
fn compare(name: &str, args: &[&str], stdin: &[u8], want: Status) {
    let (Some(arm), Some(amd)) = (busybox("arm64"), busybox("amd64")) else {
        return;
    };
    let one = |bin: &Path, prefix: Vec<OsString>, tag: &str| -> Outcome {
        let tmp = TempDir::new(&format!("bb-{name}-{tag}"));
        populate(tmp.path());
        let mut argv = prefix;
        argv.push(bin.into());
        argv.extend(args.iter().map(OsString::from));
        let home = tmp.path().to_str().unwrap();
        // xarch's code cache goes to one directory shared by every test
        // (not $HOME, the directory the applets list): later tests, and
        // tests running at the same time, run code stored by others.
        let store = common::cache_dir().join("test-code-store");
        let env = [
            ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            ("HOME", home),
            ("LC_ALL", "C"),
            ("TZ", "UTC"),
            ("XARCH_CODE_CACHE", store.to_str().unwrap()),
            ("XARCH_CODE_CACHE_MAX_MB", "256"),
        ];
        let mut out = common::run(&argv, tmp.path(), &env, stdin);
        out.stderr = common::normalize(
            &out.stderr,
            &[(bin.to_str().unwrap(), "busybox"), (home, "$TMP")],
        );
        out
    };
    let native = one(&amd, Vec::new(), "amd64");
    assert_eq!(
        native.status, want,
        "{name}: the native amd64 run itself did not end as expected:\n{native:?}"
    );
    let emulated = one(&arm, common::runner(), "arm64");
    common::assert_same(name, &native, &emulated);
}

macro_rules! cases {
    ($($name:ident: [$($arg:expr),* $(,)?] $(, stdin = $stdin:expr)? $(, status = $st:expr)?;)*) => {$(
        #[test]
        fn $name() {
            #[allow(unused_mut, unused_assignments)]
            let mut stdin: &[u8] = b"";
            $(stdin = $stdin;)?
            #[allow(unused_mut, unused_assignments)]
            let mut want = Status::Exit(0);
            $(want = $st;)?
            compare(stringify!($name), &[$($arg),*], stdin, want);
        }
    )*};
}

cases! {
    // Text tools, one applet per process.
    cat_files: ["cat", "words.txt", "nums.txt"];
    cat_numbered_stdin: ["cat", "-n", "-"], stdin = b"one\ntwo\n\nthree";
    cat_missing_file: ["cat", "words.txt", "missing.txt"], status = Status::Exit(1);
    sort_plain: ["sort", "words.txt"];
    sort_numeric_reverse_unique: ["sort", "-n", "-r", "-u", "nums.txt"];
    sort_key_field: ["sort", "-t", ",", "-k", "2,2n", "data.csv"];
    sort_big_stable: ["sort", "-s", "-k", "4,4", "-k", "3,3n", "big.txt"];
    uniq_count: ["uniq", "-c"], stdin = b"a\na\nb\nc\nc\nc\na\n";
    uniq_dup_only: ["uniq", "-d", "-i"], stdin = b"A\na\nb\nC\nc\nd\n";
    wc_counts: ["wc", "words.txt", "big.txt", "text.txt"];
    cut_fields: ["cut", "-d", ",", "-f", "1,3", "data.csv"];
    cut_chars: ["cut", "-c", "2-5,10-", "text.txt"];
    tr_upper: ["tr", "a-z", "A-Z"], stdin = b"Hello, World! 123\n";
    tr_delete_squeeze: ["tr", "-s", " ", "-d", "aeiou"], stdin = b"a  quiet    sentence   here\n";
    head_lines: ["head", "-n", "7", "big.txt"];
    head_bytes: ["head", "-c", "100", "text.txt"];
    tail_lines: ["tail", "-n", "5", "big.txt"];
    tail_from_line: ["tail", "-n", "+2998", "big.txt"];
    sed_script: ["sed", "-e", "s/an/AN/g", "-e", "2d", "-e", "/cherry/i\\\ninserted", "-e", "$a end", "words.txt"];
    sed_regex_groups: ["sed", "-n", "-E", "s/^([a-z]+),([0-9]+),.*/\\2 \\1/p", "data.csv"];
    sed_in_place: ["sh", "-c", "sed -i 's/[0-9]/#/g' nums.txt && cat nums.txt"];
    awk_printf_arith: ["awk", "-F", ",", "NR > 1 { s += $2; printf \"%-6s|%6.2f|%x|%o|%e\\n\", $1, $2 / 7, $2, $2, $2 * 1000.5 } END { print s, s / 3, int(-3.7), 7 % 3, -7 % 3, length(\"abc\"), sprintf(\"%.3f\", 1 / 3), 1e6 * 1e6, 2147483647 * 4, 0.1 + 0.2 }", "data.csv"];
    awk_arrays_strings: ["awk", "{ n[$5]++; t[$5] += $4 } END { for (k = 0; k < 13; k++) printf \"%s %d %d %s\\n\", \"word\" k, n[\"word\" k], t[\"word\" k], toupper(substr(\"abcdef\", k % 6 + 1, 2)) }", "big.txt"];
    awk_split_gsub: ["awk", "{ c = gsub(/o/, \"0\"); m = split($0, parts, /[ ,;]+/); print c, m, parts[1], parts[m], index($0, \"qu\") }", "text.txt"];
    grep_extended: ["grep", "-E", "-n", "^(ap|ch)|te$", "words.txt"];
    grep_count_invert: ["grep", "-v", "-c", "-i", "BANANA", "words.txt"];
    grep_recursive: ["grep", "-r", "-l", "d", "tree"];
    grep_no_match: ["grep", "-q", "zebra", "words.txt"], status = Status::Exit(1);
    expand_tabs: ["expand", "-t", "4", "tabs.txt"];
    xargs_batches: ["xargs", "-n", "2", "echo", "item:"], stdin = b"a b  c\nd e\n";
    factor_numbers: ["factor", "1", "97", "1234567890", "1000000007", "18446744073709551615", "600851475143"];
    seq_forms: ["sh", "-c", "seq 1 3 20; seq -w 8 12; seq -s , 5; seq 5 -2 -3"];
    expr_arith: ["sh", "-c", "expr 7 \\* 6 + 3; expr length hello; expr 17 % 5; expr abc \\< abd; expr match foobar 'fo*'; expr -9223372036854775807 - 1"];
    expr_division_by_zero: ["expr", "5", "/", "0"], status = Status::Exit(2);
    printf_formats: ["printf", "%5.2f|%-4s|%x|%o|%e|%c|%5d|%%|%s\\n", "3.14159", "ab", "255", "8", "12345.678", "z", "-42", "tail"];
    md5sum_files: ["md5sum", "big.txt", "bin.dat", "words.txt"];
    sha1sum_files: ["sha1sum", "big.txt", "bin.dat"];
    sha256sum_files: ["sha256sum", "big.txt", "bin.dat"];
    sha512sum_files: ["sha512sum", "big.txt", "bin.dat"];
    sha256sum_check: ["sh", "-c", "sha256sum words.txt nums.txt > sums && sha256sum -c sums && echo x >> nums.txt; sha256sum -c sums"], status = Status::Exit(1);
    gzip_round_trip: ["sh", "-c", "gzip -9 -n -c big.txt > b.gz && md5sum b.gz && gunzip -c b.gz | cmp - big.txt && gzip -t b.gz && gzip -d b.gz && cmp b big.txt && echo ok"];
    bzip2_round_trip: ["sh", "-c", "bzip2 -c big.txt > b.bz2 && md5sum b.bz2 && bunzip2 -c b.bz2 | cmp - big.txt && bzip2 -d b.bz2 -c | wc -c && echo ok"];
    tar_create_list_extract: ["sh", "-c", "tar cf t.tar tree && md5sum t.tar && tar tvf t.tar && mkdir out && tar xf t.tar -C out && diff -r tree out/tree && echo same"];
    tar_gzip: ["sh", "-c", "tar czf t.tgz tree words.txt && tar tzf t.tgz | sort && mkdir o && cd o && tar xzf ../t.tgz && cat tree/a/b/c.txt words.txt | md5sum"];
    find_tree: ["sh", "-c", "find tree | sort; find tree -type f -name '*.txt' | sort; find . -newer words.txt | wc -l; find tree -size -2 -type f | sort"];
    find_exec: ["sh", "-c", "find tree -type f -exec wc -c {} + | sort; find tree -name '*.dat' -exec md5sum {} \\;"];
    ls_long: ["ls", "-lnR", "tree"];
    ls_options: ["ls", "-1", "-a", "-F", "-S", "tree", "tree/a"];
    od_formats: ["od", "-A", "x", "-t", "x1", "-c", "-N", "300", "bin.dat"];
    od_words: ["od", "-t", "d4", "-t", "o2", "-v", "text.txt"];
    hexdump_canonical: ["hexdump", "-C", "bin.dat"];
    base64_round_trip: ["sh", "-c", "base64 bin.dat > b64 && head -3 b64 && base64 -d b64 | cmp - bin.dat && echo ok"];
    diff_unified: ["diff", "-u", "words.txt", "words2.txt"], status = Status::Exit(1);
    cmp_differ: ["cmp", "words.txt", "words2.txt"], status = Status::Exit(1);
    cmp_list: ["cmp", "-l", "words.txt", "words2.txt"], status = Status::Exit(1);
    dd_blocks: ["sh", "-c", "dd if=bin.dat of=part bs=100 count=3 skip=1 status=noxfer && od -A d -t u1 part | tail -3 && dd if=bin.dat bs=1 skip=1000 conv=ucase status=none | od -c"];
    date_epoch: ["date", "-u", "-d", "@0"];
    date_format: ["date", "-u", "-d", "@1234567890", "+%Y-%m-%dT%H:%M:%S %A %j %s"];
    unknown_applet: ["no-such-applet"], status = Status::Exit(127);

    // Shell scripts: busybox ash, whose applets re-execute busybox through
    // /proc/self/exe (keeping this working is the emulator's job).
    sh_functions: ["sh", "-c", "f() { echo \"f:$1:$#\"; local x=$(( $1 * 2 )); echo \"x=$x\"; return 3; }; f 21 b c; echo \"rc=$?\"; g() { f \"$@\" >/dev/null; }; g 1; echo \"g=$?\""];
    sh_loops: ["sh", "-c", "i=0; while [ $i -lt 5 ]; do i=$((i+1)); [ $i -eq 2 ] && continue; printf '%s ' $i; done; echo; for w in a 'b c' d; do echo \"[$w]\"; done; until [ $i -eq 0 ]; do i=$((i-1)); done; echo end $i"];
    sh_pipes: ["sh", "-c", "cat big.txt | cut -d' ' -f5 | sort | uniq -c | sort -k1,1nr -k2 | head -4; echo a b c | tr ' ' '\\n' | wc -l"];
    sh_subshells: ["sh", "-c", "x=outer; (x=inner; cd tree && ls; exit 4); echo \"sub=$? x=$x\"; y=$(echo cmd; echo sub); echo \"$y\"; z=`expr 1 + 2`; echo $z; { echo grouped; echo out; } | wc -l"];
    sh_heredoc: ["sh", "-c", "v=value; cat <<EOF\nexpanded $v $((2+3))\n  kept indent\nEOF\ncat <<'EOF'\nliteral $v $((2+3))\nEOF\ncat <<-EOF\n\ttabs stripped\n\tEOF\n"];
    sh_arithmetic: ["sh", "-c", "echo $(( (7*6) % 5 + 2*10 )) $(( 1<<62 )) $(( -7/2 )) $(( -7%2 )) $(( 0x1F + 010 )) $(( 3 > 2 && 1 || 0 )) $(( ~5 ^ 3 )); a=5; : $(( a += 10, a *= 2 )); echo $a; echo $(( 9223372036854775807 + 1 ))"];
    sh_strings_case: ["sh", "-c", "v=path/to/file.tar.gz; echo ${v#*/} ${v##*/} ${v%.*} ${v%%.*} ${#v} ${u:-dflt} ${v:5:2}; for s in abc x12 -q ''; do case \"$s\" in a*) echo alpha;; *[0-9]*) echo digit;; -?) echo opt;; *) echo other;; esac; done"];
    sh_traps_errors: ["sh", "-c", "trap 'echo exit trap $?' EXIT; false || echo alt; cat missing 2>&1; echo rc=$?; set -e; true; (exit 3) || echo caught; exit 5"], status = Status::Exit(5);
    sh_stderr: ["sh", "-c", "echo to-err >&2; ls missing; echo after"];
    sh_exit_7: ["sh", "-c", "echo before; exit 7; echo never"], status = Status::Exit(7);
    sh_kill_term_self: ["sh", "-c", "echo before; kill -TERM $$; echo never"], status = Status::Signal(15);
    sh_child_signal: ["sh", "-c", "sh -c 'kill -KILL $$'; echo \"child=$?\"; { sleep 10 & kill $!; wait $!; echo \"bg=$?\"; } 2>/dev/null; sh -c 'kill -TERM $$'; echo \"term=$?\""];
    sh_syntax_error: ["sh", "-c", "if then fi"], status = Status::Exit(2);
    sh_env_exec: ["sh", "-c", "X=1 env | grep '^X='; env -i Y=2 sh -c 'echo y=$Y path=${PATH:-unset}'; exec echo exec-replaced"];
    sh_script_file: ["sh", "-c", "printf '#!/bin/sh\\necho script \"$@\"\\nexit 3\\n' > s.sh; sh s.sh a b; echo rc=$?; chmod +x s.sh; ./s.sh c; echo rc=$?"];
    sh_read_loop: ["sh", "-c", "while IFS=, read -r n a c; do [ \"$n\" = name ] && continue; echo \"$c:$n:$((a + 1))\"; done < data.csv"];
    sh_redirections: ["sh", "-c", "echo one > f; echo two >> f; cat < f; exec 3< f; read -r l <&3; echo \"fd3:$l\"; exec 3<&-; ls missing 2> err || cat err; echo both >f 2>&1; cat f"];
    sh_timeout_nohup: ["sh", "-c", "timeout 5 cat words.txt | wc -l; timeout -s KILL 1 sleep 5; echo rc=$?; nice -n 5 echo niced"];
}
