#!/bin/bash
# The workload of scripts/rootfs-compare.sh: run inside a Debian bookworm
# root file system (arm64 under `xarch run --rootfs`, amd64 natively), it
# writes one output file per test to $OUT (default /tmp/rootfs-compare/out);
# the outputs of the two roots must be byte-identical. Everything here is
# deterministic and architecture-neutral: fixed dates, PYTHONHASHSEED, no
# inode numbers or block counts, no `char` signedness or long double, and C
# built with -ffp-contract=off (arm64 gcc would otherwise fuse a*b+c).
#
#   bash rootfs-compare-workload.sh [TEST...]   (default: all tests)
set -u
shopt -s extglob
OUT=${OUT:-/tmp/rootfs-compare/out}
W=/tmp/rootfs-compare/work
rm -rf "$OUT" "$W"
mkdir -p "$OUT" "$W"
export LC_ALL=C.UTF-8 TZ=UTC PYTHONHASHSEED=0 HOME=/root
export GIT_AUTHOR_NAME=xarch GIT_AUTHOR_EMAIL=xarch@example.org
export GIT_COMMITTER_NAME=xarch GIT_COMMITTER_EMAIL=xarch@example.org
export GIT_AUTHOR_DATE='2001-02-03T04:05:06Z' GIT_COMMITTER_DATE='2001-02-03T04:05:06Z'
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null

# t NAME: runs the function test_NAME in a fresh directory, stdout and stderr
# to $OUT/NAME, and its exit status as the last line.
t() {
	local name=$1 start end
	mkdir -p "$W/$name"
	start=$(date +%s%N)
	(cd "$W/$name" && "test_$name") >"$OUT/$name" 2>&1
	echo "exit=$?" >>"$OUT/$name"
	end=$(date +%s%N)
	printf '%s %d\n' "$name" $(((end - start) / 1000000)) >>"$OUT/../times"
}

test_bash() {
	declare -A h=([one]=1 [two]=2 [three]=3)
	local a=(zeta alpha "with space" beta) k s i
	for k in $(printf '%s\n' "${!h[@]}" | sort); do echo "$k=${h[$k]}"; done
	printf '[%s]\n' "${a[@]}"
	printf '%s\n' "${a[@]}" | sort
	echo "len=${#a[@]} sub=${a[2]:5} up=${a[1]^^} repl=${a[0]/z/Z}"
	echo $((2 ** 62 + 7 % 3 * 5)) $((-7 / 2)) $((-7 % 2)) $((0x7fffffffffffffff + 1)) $((1 << 63 >> 63))
	RANDOM=42; echo "$RANDOM $RANDOM $RANDOM"
	s=''; for ((i = 0; i < 2000; i++)); do s+=$((i * i % 97)); done; echo "${#s} ${s:0:40}"
	while IFS=: read -r u _ id _; do [ "$id" -lt 10 ] && echo "$u $id"; done </etc/passwd
	diff <(seq 1 5) <(seq 1 2 5) || echo "diff status=$?"
	trap 'echo trapped EXIT' EXIT
	( exit 3 ); echo "subshell=$?"
	f() { local x=$1; [ "$x" -le 1 ] && { echo 1; return; }; echo $((x * $(f $((x - 1))))); }
	echo "fact20=$(f 20)"
	cat <<-EOF | tr a-z A-Z
	heredoc ${h[two]} $(echo nested)
	EOF
	touch b.txt a.txt c.log; echo *.txt; shopt -s extglob; echo !(*.txt)
	printf '%05.2f|%-6s|%x|%o|%e|%q\n' 3.14159 ab 255 8 12345.678 "a b'c"
	case "foo.tar.gz" in *.tar.*) echo "ext=${_:-} ${BASH_REMATCH[*]:-}" ;; esac
	[[ "2024-01-15" =~ ^([0-9]+)-([0-9]+)-([0-9]+)$ ]] && echo "${BASH_REMATCH[@]}"
	kill -USR1 $$ 2>/dev/null; echo "after-signal"
	sleep 0.1 & wait $!; echo "wait=$?"
	coproc cat; echo hello-coproc >&"${COPROC[1]}"; read -r line <&"${COPROC[0]}"; echo "$line"
	exec {fd}>&"${COPROC[1]}"; exec {COPROC[1]}>&- {fd}>&-; wait
}
trap '' USR1

test_coreutils() {
	seq 1 50 | awk '{print ($1 * 7919) % 101, "k" $1}' >nums
	sort -n nums | head -5; sort -k2,2 -r nums | head -3; sort -u -t' ' -k1,1n nums | wc -l
	printf 'b\nB\na\nA\n_\n1\n' | LC_ALL=C sort | tr '\n' ' '; echo
	printf 'b\nB\na\nA\n_\n1\n' | sort | tr '\n' ' '; echo
	seq 1 10000 >big; sha256sum big nums; md5sum big; sha1sum big; b2sum big | cut -c1-40; cksum big
	date -u -d @0; date -u -d @1234567890 '+%Y-%m-%d %H:%M:%S %A %j %U %s'
	date -u -d '2000-02-28 +1 day' +%F; date -u -d '2024-03-31 12:00 -1 month' --iso-8601=seconds
	TZ=America/New_York date -d @1700000000 2>&1 || true
	printf 'hello\n' >f1; printf '%s' "$(seq 1 300)" >f2; mkdir d1; ln -s f1 l1; chmod 0640 f1; chmod 0755 d1
	touch -h -d '2001-02-03 04:05:06.123456789' f1 f2 d1 l1
	ls -l --time-style=full-iso f1 f2 d1 l1; ls -lad --time-style=+%s d1
	stat -c '%n|%s|%a|%A|%U|%G|%u|%g|%F|%y|%Y|%h' f1 f2 d1 l1
	stat -L -c '%n|%s|%F|%N' l1; stat -c '%N' l1
	od -A x -t x1z -N 32 big; base64 f2 | head -2; echo aGVsbG8K | base64 -d
	factor 600851475143 18446744073709551557 2>&1; numfmt --to=iec 123456789; expr 7 \* 6 : '\(.\)'
	seq 1 20 | paste - - - -; seq 5 | tac | tr '\n' ,; echo; printf '1 a\n2 b\n' >j1; printf '1 x\n3 y\n' >j2
	join j1 j2; comm <(seq 1 5) <(seq 3 7) | cat -A; split -l 3000 big part.; wc -l part.*; wc -c big
	printf 'a b  c\n' | cut -d' ' -f2-; printf 'xx\nxx\nyy\n' | uniq -c; echo abcdef | rev; tr -s 'a-z' <<<'aabbccdd'
	truncate -s 10M sparse; stat -c '%s' sparse; dd if=/dev/zero bs=1k count=3 2>/dev/null | sha256sum
	shuf -i 1-10 --random-source=big | tr '\n' ' '; echo; seq -f '%08.3f' 1 0.5 3; printf '%s\n' 3.0e2 1e-3 | sort -g
	nl -ba f1; fold -w 7 <<<'the quick brown fox jumps'; fmt -w 12 <<<'the quick brown fox jumps'; expand <<<$'a\tb'
	id -u; id -gn; basename /a/b/c.txt .txt; dirname /a/b/c; readlink -f l1 | sed "s|$PWD|.|"; realpath -m ../x/../y | sed "s|$W|W|"
	env -i /usr/bin/env; nproc >/dev/null && echo nproc-ok; test -x /bin/sh && echo test-ok; timeout 5 sleep 0.05; echo "timeout=$?"
	yes abc | head -c 20; echo; tee t1 t2 <f1 >/dev/null; cmp t1 t2 && echo tee-ok; sync
}

test_python() {
	python3 - <<'EOF'
import json, re, hashlib, decimal, sqlite3, zlib, struct, math, fractions, collections, itertools, random, datetime, base64, statistics, textwrap, io, os, sys
d = {"b": [1, 2.5, None, True], "a": {"x": "é\u2603", "y": 1e300 * 10}, "n": -0.0}
s = json.dumps(d, sort_keys=True, ensure_ascii=True, allow_nan=True)
print(s); print(json.loads(s)); print(json.dumps(json.loads('[1.0000000000000002, 3.14159e-310, 123456789012345678901234567890]')))
print(re.findall(r'(\w+)@(\w+)\.com', 'a@b.com, cc@dd.com x@y.org'), re.sub(r'(?i)HELLO', 'bye', 'Hello hello'))
print(re.split(r'\s*[,;]\s*', 'a , b;c ;d'), bool(re.fullmatch(r'[\u0400-\u04ff]+', 'привет')))
for n in ('md5', 'sha1', 'sha256', 'sha512', 'sha3_256', 'blake2b'):
    print(n, hashlib.new(n, b'xarch' * 1000).hexdigest())
print(hashlib.pbkdf2_hmac('sha256', b'pw', b'salt', 1000).hex())
decimal.getcontext().prec = 60
print(decimal.Decimal(1) / decimal.Decimal(7), decimal.Decimal(2).sqrt(), decimal.Decimal('1.1') + decimal.Decimal('2.2'))
print(decimal.Decimal(0.1), decimal.Decimal('123.456').quantize(decimal.Decimal('0.1'), rounding=decimal.ROUND_HALF_EVEN))
db = sqlite3.connect(':memory:')
db.execute('create table t(id integer primary key, name text, v real)')
db.executemany('insert into t(name, v) values (?, ?)', [(f'n{i}', i / 3) for i in range(100)])
print(db.execute('select count(*), sum(v), avg(v), max(name), group_concat(id) from t where id % 17 = 0').fetchall())
print(sqlite3.sqlite_version, db.execute("select printf('%.5f', 2.0/3), json_object('a', 1, 'b', json_array(1, 2))").fetchone())
data = b''.join(struct.pack('<IdQ', i, i * 0.5, i * i) for i in range(5000))
c = zlib.compress(data, 9); print(len(data), len(c), zlib.crc32(data), zlib.adler32(data), zlib.decompress(c) == data)
co = zlib.compressobj(6, zlib.DEFLATED, -15); raw = co.compress(data) + co.flush(); print(len(raw), hashlib.sha256(raw).hexdigest())
print(struct.pack('>hHiqf', -2, 65535, -1, 2**62, 1.5).hex(), struct.unpack('<d', bytes.fromhex('182d4454fb210940')))
print(repr(0.1 + 0.2), 1e16 + 1.0, 2**0.5, math.sqrt(2), math.fsum([0.1] * 10), float.hex(1 / 3), 7.0 // 2, -7 % 3, divmod(-7.5, 2))
print(['%.12g' % f(0.7) for f in (math.sin, math.cos, math.exp, math.log, math.atan, math.tanh, math.lgamma, math.erf)])
print(math.factorial(50), 2**200 // 3**50, pow(3, 10**5, 10**9 + 7), math.gcd(2**64, 6**30), math.isqrt(10**40 + 1))
print(fractions.Fraction(355, 113) - fractions.Fraction(22, 7), round(2.675, 2), round(0.5), round(1.5), f'{1234567.891:,.2f}', f'{255:#010b}')
print(int('ff' * 40, 16), hex(-(2**70)), (12345678901234567890).bit_length(), float('inf') - float('inf'), -0.0, 5e-324 / 2)
random.seed(1234); print(random.random(), random.randint(1, 10**12), random.sample(range(100), 5), random.gauss(0, 1))
print(collections.Counter('mississippi').most_common(3), list(itertools.permutations('abc', 2))[:4], sorted({'b': 1, 'a': 2}.items()))
print(datetime.datetime.fromtimestamp(1234567890, datetime.timezone.utc).isoformat(), datetime.date(2024, 2, 29) + datetime.timedelta(days=365))
print(base64.b85encode(b'xarch rootfs'), statistics.median([5, 1, 3, 2]), statistics.pstdev([2, 4, 4, 4, 5, 5, 7, 9]))
print(textwrap.fill('the quick brown fox jumps over the lazy dog ' * 2, 30)); print(sys.byteorder, sys.maxsize, sys.float_info.dig, sys.getrecursionlimit())
print(sorted(['b', 'A', 'a', 'é', 'Z']), 'straße'.upper(), 'ǅ'.lower(), len('😀'.encode('utf-16-le')), 'x'.join(map(str, range(5))))
print(hash('abc') == hash('abc'), hash(12345), hash((1, 2)))
def fib(n): return n if n < 2 else fib(n - 1) + fib(n - 2)
print(fib(22), sum(i * i for i in range(10**5)))
import threading, queue
q = queue.Queue(); ts = [threading.Thread(target=lambda k=k: q.put(sum(range(k * 10000)))) for k in range(8)]
[x.start() for x in ts]; [x.join() for x in ts]; print(sorted(q.get() for _ in ts))
import subprocess; print(subprocess.run(['sh', '-c', 'echo sub $((6*7)); exit 4'], capture_output=True, text=True))
EOF
}

test_perl() {
	perl -e 'print join(",", sort { $a <=> $b } map { ($_ * 7919) % 101 } 1..20), "\n"'
	perl -le 'printf "%.10f %e %d %s %x %b\n", atan2(1,1)*4, 6.02e23, -17/3, 2**53+1, 255, 10'
	perl -le '$_="The quick brown fox"; s/(\w+)/\u\L$1/g; print; print scalar(() = /o/g); print join "|", /(\w)(\w)$/'
	perl -MDigest::SHA=sha256_hex -MDigest::MD5=md5_hex -le 'print sha256_hex("xarch" x 1000); print md5_hex("a")'
	perl -le 'print unpack("H*", pack("NnCa4w", 0xdeadbeef, 513, 7, "ab", 300)); print join ",", unpack("l< s> q", pack("l< s> q", -5, -2, -(2**40)))'
	perl -MPOSIX=floor,ceil,strftime,fmod -le 'print floor(-2.5), ceil(2.1), fmod(10, 3), strftime("%Y-%m-%d %H:%M:%S", gmtime(1e9))'
	perl -le 'my %h = map { $_ => length } qw(apple kiwi banana fig); print "$_=$h{$_}" for sort { $h{$a} <=> $h{$b} or $a cmp $b } keys %h'
	perl -le 'srand(42); print join " ", map { int rand 1000 } 1..5'
	perl -Mbigint -le 'print 2**200; print 100->bfac()' 2>&1
	perl -MList::Util=sum,max,reduce,shuffle -le 'print sum(1..1000), " ", max(3,9,2), " ", reduce { $a * $b } 1..15'
	perl -le 'use utf8; binmode STDOUT, ":utf8"; my $s = "Grüße"; print uc $s, " ", length $s, " ", scalar reverse $s'
	seq 1 30 | perl -ne 'print if $. % 7 == 0; END { print "lines=$.\n" }'
	perl -le 'open my $f, ">", "p.txt" or die; print $f "line$_" for 1..3; close $f; open $f, "<", "p.txt"; my @l = <$f>; print scalar(@l), " ", $l[-1]'
	perl -le 'my $pid = fork; if (!$pid) { exit 7 } waitpid $pid, 0; print $? >> 8'
	perl -le 'local $SIG{ALRM} = sub { print "alarm" }; alarm 1; sleep 2; print "woke"'
	perl -MJSON::PP -le 'print JSON::PP->new->canonical->encode({b => [1, 2.5, "x"], a => undef})'
	perl -MStorable=freeze -le 'print length freeze([1..100])' 2>&1
	perl -le 'print sprintf("%.17g", 0.1 + 0.2), " ", 1e308 * 10, " ", -(1e308 * 10), " ", 9**0.5, " ", int(-3.7), " ", 7 % -3'
}

test_sqlite3() {
	sqlite3 t.db <<'EOF'
create table emp(id integer primary key, name text not null, dept text, salary real, hired text);
insert into emp(name, dept, salary, hired) values
  ('ann','eng',120000.5,'2019-03-01'),('bob','eng',95000,'2020-07-15'),('cid','ops',70000,'2018-01-20'),
  ('dee','ops',72000.25,'2021-11-30'),('eve','sales',60000,'2022-05-05'),('fay',NULL,NULL,'2023-01-01');
create index emp_dept on emp(dept);
.mode list
.headers on
select dept, count(*), round(avg(salary), 3), max(salary), min(name) from emp group by dept order by dept;
select name, salary, rank() over (partition by dept order by salary desc) r, sum(salary) over (order by id) running from emp order by id;
with recursive c(x) as (select 1 union all select x + 1 from c where x < 20) select group_concat(x * x, ':'), sum(x), total(x) / 3 from c;
select date('2024-02-28', '+1 day'), julianday('2000-01-01'), strftime('%s', '2001-02-03 04:05:06'), datetime(1e9, 'unixepoch');
select printf('%08.3f|%x|%s|%e', 3.14159265, 255, 'txt', 1234.5), 1.0 / 3, 7 / 2, -7 % 3, 9223372036854775807 + 1, abs(-9e18), hex(zeroblob(4));
select json_group_array(name), json_extract('{"a":[1,{"b":2}]}', '$.a[1].b') from emp where dept = 'eng';
select upper('straße'), length('héllo'), substr('abcdef', -3, 2), replace('aaa', 'a', 'bc'), instr('hello', 'll'), trim('  x  ') || '|';
select typeof(1), typeof(1.5), typeof('x'), typeof(x'00'), typeof(null), 1 = 1.0, '10' < '9', 10 < 9;
explain query plan select * from emp where dept = 'ops';
begin; update emp set salary = salary * 1.1 where dept = 'ops'; savepoint s; delete from emp; rollback to s; commit;
select name, salary from emp where dept = 'ops' order by name;
pragma integrity_check;
.schema emp
EOF
	# .dump prints reals with %!.20g, computed in long double: 80-bit on
	# amd64 (120000.5 shows as 120000.49999999999999), 128-bit on arm64
	# (qemu-aarch64 agrees with xarch), so dump a copy without reals.
	sqlite3 t.db 'create table emp2 as select id, name, dept, cast(salary * 100 as integer) cents, hired from emp' '.dump emp2' | sha256sum
	sqlite3 -csv t.db 'select * from emp order by id' ; sqlite3 -json t.db 'select id, name from emp where id < 3'
	sqlite3 --version | cut -d' ' -f1-2
}

test_compress() {
	seq 1 40000 | sed 's/$/ some repeated text for compression/' >data
	python3 -c "import random; random.seed(7); open('rnd','wb').write(random.randbytes(1 << 18))"
	sha256sum data rnd
	for f in data rnd; do
		for lvl in 1 6 9; do
			gzip -n -$lvl -c $f >$f.$lvl.gz; xz -T1 -$lvl -c $f >$f.$lvl.xz
			echo "$f $lvl gz=$(wc -c <$f.$lvl.gz) $(sha256sum <$f.$lvl.gz | cut -c1-16) xz=$(wc -c <$f.$lvl.xz) $(sha256sum <$f.$lvl.xz | cut -c1-16)"
			gzip -dc $f.$lvl.gz | cmp - $f && xz -dc $f.$lvl.xz | cmp - $f && echo "  roundtrip ok"
		done
	done
	xz -T2 --block-size=256KiB -6 -c data >data.mt.xz; echo "mt xz=$(wc -c <data.mt.xz) $(sha256sum <data.mt.xz | cut -c1-16)"
	xz -T2 -dc data.mt.xz | cmp - data && echo "mt roundtrip ok"
	xz -l data.mt.xz; xz -lvv data.6.xz | grep -i -e check -e 'memory' | head -3; xz -t data.9.xz && echo xz-test-ok
	xz -e -9 --format=lzma -c data | xz --format=lzma -dc | cmp - data && echo lzma-ok
	xz --check=sha256 -c rnd | xz -dc | sha256sum; xz -c --lzma2=preset=3,lc=4,pb=0 data | wc -c
	gzip -l data.9.gz; gzip -t data.1.gz && echo gzip-test-ok; zcat data.6.gz | tail -1
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf a.tar data rnd; sha256sum a.tar
	tar -cJf a.tar.xz --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner data; tar -tvJf a.tar.xz
	tar -czf - --sort=name --mtime=@0 --owner=0 --group=0 data | tar -xzOf - | cmp - data && echo targz-ok
	printf 'corrupt' | xz -dc 2>&1; echo "status=$?"
}

test_gcc() {
	cat >m.c <<'EOF'
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <errno.h>
#include <time.h>
static uint64_t acc[4];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local int tls = 5;
static void *work(void *p) {
	int id = (int)(intptr_t)p; uint64_t h = 1469598103934665603ULL;
	for (int i = 0; i < 2000000; i++) h = (h ^ (uint64_t)(i + id)) * 1099511628211ULL;
	tls += id; pthread_mutex_lock(&mu); acc[id] = h + (uint64_t)tls; pthread_mutex_unlock(&mu); return p;
}
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
static jmp_buf jb;
int main(int argc, char **argv) {
	double v[] = {0.5, 1.0, 2.0, 10.0, 1e-300, 123.456};
	for (unsigned i = 0; i < sizeof v / sizeof *v; i++)
		printf("%g sqrt=%.17g fabs=%.17g floor=%g fmod=%.17g | sin=%.12g exp=%.12g log=%.12g pow=%.12g cbrt=%.12g atan2=%.12g\n",
		       v[i], sqrt(v[i]), fabs(-v[i]), floor(v[i] * 3.3), fmod(v[i] * 7, 3), sin(v[i]), exp(v[i] / 10), log(v[i]), pow(v[i], 1.5), cbrt(v[i]), atan2(v[i], 3));
	printf("%.17g %.17g %a %d %d\n", 0.1 + 0.2, 1.0 / 3.0, 1.0 / 3.0, isnan(NAN), isinf(-HUGE_VAL));
	printf("lround=%ld rint=%g nearbyint=%g trunc=%g %.9g\n", lround(2.5), rint(2.5), nearbyint(3.5), trunc(-2.7), (float)(1.0f / 3.0f));
	int64_t big = INT64_MAX; uint32_t u = 0xffffffffu; int32_t s = -7;
	printf("%" PRId64 " %" PRIu64 " %u %d %d %d %lld\n", big, (uint64_t)big * 2 + 1, u + 2, s / 2, s % 2, s >> 1, (long long)(signed char)200);
	printf("sizes %zu %zu %zu %zu %zu\n", sizeof(int), sizeof(long), sizeof(void *), sizeof(size_t), sizeof(double));
	pthread_t th[4];
	for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, work, (void *)(intptr_t)i);
	for (int i = 0; i < 4; i++) { void *r; pthread_join(th[i], &r); if ((intptr_t)r != i) return 9; }
	for (int i = 0; i < 4; i++) printf("acc[%d]=%016" PRIx64 "\n", i, acc[i]);
	printf("main tls=%d\n", tls);
	double *a = malloc(100000 * sizeof *a); unsigned seed = 12345;
	for (int i = 0; i < 100000; i++) { seed = seed * 1103515245u + 12345u; a[i] = (seed >> 8) / 16777216.0 - 0.5; }
	qsort(a, 100000, sizeof *a, cmp); double sum = 0; for (int i = 0; i < 100000; i++) sum += a[i];
	printf("sorted %.17g %.17g sum=%.17g\n", a[0], a[99999], sum); free(a);
	char buf[64]; snprintf(buf, sizeof buf, "%-8s|%8.3f|%+05d|%#x|%e", "ab", 3.14159, 42, 255, 1e-10); puts(buf);
	printf("strtod=%.17g strtol=%ld strerror=%s\n", strtod("0x1.8p3", NULL), strtol("-0777", NULL, 0), strerror(ENOENT));
	if (setjmp(jb) == 0) longjmp(jb, 3); else puts("longjmp ok");
	struct tm tm; time_t t0 = 951782400; gmtime_r(&t0, &tm); strftime(buf, sizeof buf, "%Y-%m-%d %A %j", &tm); puts(buf);
	printf("argc=%d argv1=%s\n", argc, argc > 1 ? argv[1] : "-");
	return 0;
}
EOF
	gcc --version | head -1
	for o in -O0 -O2; do
		gcc $o -ffp-contract=off -Wall -Wextra -o m$o m.c -lm -pthread && ./m$o arg >m$o.out; echo "status=$?"
	done
	cmp m-O0.out m-O2.out && echo "O0 == O2"; cat m-O2.out
	printf 'int add(int a, int b) { return a + b; }\n' >lib.c
	printf '#include <stdio.h>\nint add(int, int);\nint main(void) { printf("%%d\\n", add(40, 2)); return 0; }\n' >main.c
	gcc -c -fPIC lib.c && ar rcs libadd.a lib.o && gcc -o st main.c libadd.a && ./st
	gcc -shared -o libadd.so lib.o && gcc -o dy main.c -L. -ladd && LD_LIBRARY_PATH=. ./dy
	gcc -static -o sta main.c lib.c 2>&1 && ./sta; echo "static=$?"
	printf '#include <stdio.h>\nint main(void){puts("cpp");}\n' | g++ -x c++ - -o cx 2>/dev/null && ./cx || echo "no g++"
	gcc -E -P -dD - </dev/null | grep -c . >/dev/null && echo preprocess-ok
	printf 'int main(void){ return x; }\n' >bad.c; gcc bad.c 2>&1 | sed 's/^[^:]*:/F:/' | head -3; echo "bad=$?"
}

test_make() {
	mkdir src
	for i in 1 2 3 4 5; do printf 'int f%d(void) { return %d * %d; }\n' $i $i $i >src/f$i.c; done
	printf '#include <stdio.h>\n%s\nint main(void) { printf("%%d\\n", f1()+f2()+f3()+f4()+f5()); return 0; }\n' \
		"$(for i in 1 2 3 4 5; do printf 'int f%d(void);' $i; done)" >src/main.c
	cat >Makefile <<'EOF'
SRCS := $(sort $(wildcard src/*.c))
OBJS := $(SRCS:src/%.c=build/%.o)
CFLAGS ?= -O1
NAMES = $(notdir $(basename $(SRCS)))
.PHONY: all info clean
all: prog info
build/%.o: src/%.c | build
	$(CC) $(CFLAGS) -c $< -o $@
build:
	mkdir -p $@
prog: $(OBJS)
	$(CC) -o $@ $^
info:
	@echo names=$(NAMES) upper=$(shell echo $(words $(OBJS)) | tr 0-9 a-j) $(patsubst %.o,%,$(notdir $(OBJS)))
	@$(foreach n,a b c,echo each-$(n);)
	@echo $(if $(filter f3,$(NAMES)),has-f3,no-f3) $(subst o,0,foo) $(origin CFLAGS)
clean:
	rm -rf build prog
EOF
	make -j2 --no-print-directory prog >log 2>&1; echo "make=$?"; sort log; ./prog
	make --no-print-directory info; make -q prog; echo "uptodate=$?"
	touch -d '2000-01-01' src/*.c build/*.o prog; touch -d '2000-01-02' src/f3.c; make --no-print-directory prog; make --no-print-directory -n clean; make -s clean; ls
	make --no-print-directory nosuch 2>&1; echo "missing=$?"
	make --version | head -1
}

test_git() {
	git init -q -b main repo && cd repo || return
	git config user.name x; git config core.autocrlf false
	printf 'one\ntwo\nthree\n' >a.txt; seq 1 1000 >b.txt; mkdir sub; printf '#!/bin/sh\necho hi\n' >sub/run.sh; chmod +x sub/run.sh
	git add . && git commit -q -m 'first commit' && git rev-parse HEAD
	sed -i 's/two/TWO/' a.txt; git rm -q b.txt; printf 'new\n' >c.txt; git add -A; git status --short
	GIT_AUTHOR_DATE='2001-02-04T00:00:00Z' GIT_COMMITTER_DATE='2001-02-04T00:00:00Z' git commit -q -m 'second' -m 'body line'
	git checkout -q -b topic; echo topic >>c.txt; git commit -qam 'topic change'; git checkout -q main
	echo main >>a.txt; git commit -qam 'main change'; git merge -q --no-edit topic; git tag -a v1 -m 'tag one'
	git log --graph --format='%H %an <%ae> %ad %s' --date=iso-strict; git log --stat --format=%s -n 2
	git show --format=fuller HEAD~1 | head -30; git diff HEAD~3 HEAD -- a.txt; git ls-tree -r HEAD; git cat-file -p v1
	git describe; git rev-list --count HEAD; git count-objects | cut -d' ' -f1-2; git gc -q; git fsck --strict 2>&1 && echo fsck-ok
	git verify-pack -v .git/objects/pack/*.idx | grep -c -e blob -e tree -e commit
	git format-patch -1 --stdout HEAD~1 | sed 's/^X-Mailer.*//' | sha256sum
	git archive --format=tar HEAD | sha256sum; git bundle create ../r.bundle --all 2>&1 | tail -1
	cd .. && git clone -q r.bundle clone && git -C clone log --oneline | head -3; git --version
	git -C repo blame -s a.txt; git -C repo grep -n -e TWO -e hi
}

test_file() {
	printf 'plain ascii text\n' >t.txt; printf 'caf\xc3\xa9 utf8\n' >u.txt; printf '#!/bin/sh\necho\n' >s.sh
	printf '#!/usr/bin/env python3\nprint(1)\n' >p.py; printf '<?xml version="1.0"?>\n<a/>\n' >x.xml; printf '<!DOCTYPE html><html></html>\n' >h.html
	printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x20\x08\x06\0\0\0' >i.png; printf 'GIF89a\x10\0\x20\0\0\0\0' >i.gif
	printf '%%PDF-1.4\n' >d.pdf; printf '{"a": 1}\n' >j.json; : >empty; printf '\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\xb7\0' >elf
	seq 1 100 | gzip -n >g.gz; seq 1 100 | xz >g.xz; tar --mtime=@0 -cf g.tar t.txt; mkdir dir; ln -s t.txt link
	python3 -c "import sqlite3; sqlite3.connect('db.sqlite').execute('create table t(x)')"; python3 -c "import zipfile; zipfile.ZipFile('z.zip','w').writestr('a','b')"
	printf 'line\r\nline\r\n' >crlf.txt; head -c 4096 /dev/zero >zeros; printf 'int main(void){return 0;}\n' >c.c
	file * | sort; file -b --mime-type * | sort | uniq -c; file -b --mime g.gz u.txt; file -z g.gz; file -L link; file --version | head -1
	file /usr/lib/locale/C.utf8/LC_CTYPE /usr/share/misc/magic.mgc 2>&1
}

if [ $# -eq 0 ]; then set -- bash coreutils python perl sqlite3 compress gcc make git file; fi
: >"$OUT/../times"
for name; do t "$name"; done
