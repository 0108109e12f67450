#!/usr/bin/env python3
"""Writes the hostile reports of this folder, and expected.json (for each,
words its refusal must contain), from good-a.json.

good-a.json and good-b.json are two real reports of load generators that
ran at once, open loop (`echo-client --bench --duration 0.5 --rate 600
--json-out good-a.json` with 3 connections, and `--rate 400` with 2;
good-a.json's has 3 skipped sends in its histogram). Every hostile report is good-a.json with one thing wrong,
and everything else still agreeing with its counts (percentiles, rates),
so that only the check it is made for can refuse it. They are text files
(no NUL byte: git diffs them as text); the test makes the one with a NUL. tests/integration/
test_bench_reports.py merges each with good-b.json and checks that this
script's output is what is committed:

    python3 tests/data/merge_reports/make_corpus.py [OUT_DIR]
"""

import copy
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SUB_BUCKETS = 64
HALF = SUB_BUCKETS // 2


def upper_edge(index):
    if index < SUB_BUCKETS:
        return index
    magnitude = (index - HALF) // HALF
    sub = (index - HALF) % HALF + HALF
    return ((sub + 1) << magnitude) - 1


def index_of(value):
    if value < SUB_BUCKETS:
        return value
    magnitude = value.bit_length() - 6
    return magnitude * HALF + (value >> magnitude)


def quantile(buckets, q, maximum):
    """As echo-client computes it: the upper edge of the bucket holding the
    ceil(q*N)-th sample, never above the largest sample."""
    total = sum(count for _, count in buckets)
    if total == 0:
        return 0
    wanted = max(1, math.ceil(q * total))
    seen = 0
    for index, count in buckets:
        seen += count
        if seen >= wanted:
            return min(upper_edge(index), maximum)
    return maximum


def agreeing(r):
    """`r` with its percentiles and rates recomputed from its counts."""
    h = r["histogram"]
    us = lambda ns: round(ns / 1000, 3)  # noqa: E731
    r["latency_us"] = {key: us(quantile(h["buckets"], q, h["max"]))
                       for key, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99_9", 0.999))}
    r["latency_us"]["max"] = us(h["max"])
    if "uncorrected_histogram" in r:
        u = r["uncorrected_histogram"]
        r["uncorrected_latency_us"] = {key: us(quantile(u["buckets"], q, u["max"]))
                                       for key, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99_9", 0.999))}
        r["uncorrected_latency_us"]["max"] = us(u["max"])
    r["req_per_s"] = round(r["requests"] / r["seconds"], 3)
    r["mb_per_s"] = round(r["bytes"] / r["seconds"] / 1e6, 3)
    return r


def text(r):
    return json.dumps(r, separators=(",", ":")) + "\n"


def cases(good, other):
    """(name, words of the refusal, content) for every hostile report."""
    g = lambda: copy.deepcopy(good)  # noqa: E731
    out = []

    def add(name, expected, content):
        out.append((name, expected, content if isinstance(content, (str, bytes)) else text(content)))

    def bucket(name, expected, first, recount=True):
        r = g()
        r["histogram"]["buckets"][0] = first
        add(name, expected, agreeing(r) if recount else r)

    # A histogram bucket must be [index, count], both integers in range.
    first_index, first_count = good["histogram"]["buckets"][0]
    bucket("bucket-index-negative", "a histogram bucket's index is negative", [-1, 0], recount=False)
    bucket("bucket-count-1e20", "is not an integer", [400, 1e20], recount=False)
    bucket("bucket-index-fraction", "a histogram bucket's index is not an integer", [first_index + 0.5, first_count],
           recount=False)
    bucket("bucket-index-past-the-last", "a histogram bucket's index is 1920, not 0 to 1919", [1920, first_count],
           recount=False)
    bucket("bucket-index-2-to-the-64", "a histogram bucket's index is not an integer", [2**64, first_count],
           recount=False)
    bucket("bucket-count-negative", "is negative (-3)", [first_index, -3], recount=False)
    bucket("bucket-count-zero", f"the count of histogram bucket {first_index} is 0", [first_index, 0], recount=False)
    bucket("bucket-count-string", "is a string, not a count", [first_index, str(first_count)], recount=False)
    bucket("bucket-not-a-pair", "a histogram bucket that is not [index, count]", [first_index], recount=False)
    bucket("bucket-of-three", "a histogram bucket that is not [index, count]", [first_index, first_count, 1],
           recount=False)

    r = g()
    buckets = r["histogram"]["buckets"]
    index, count = buckets[1]
    assert count > 1, "good-a.json's second bucket must hold more than one sample"
    buckets[1:2] = [[index, 1], [index, count - 1]]
    add("bucket-twice", f"histogram bucket {index} comes after bucket {index}", r)

    r = g()
    buckets = r["histogram"]["buckets"]
    buckets[1], buckets[2] = buckets[2], buckets[1]
    add("buckets-out-of-order", "comes after bucket", r)

    # Counts that wrap 64 bits: two buckets of 2^63 each.
    r = g()
    buckets = r["histogram"]["buckets"]
    buckets[1:3] = [[buckets[1][0], 2**63], [buckets[2][0], 2**63]]
    add("bucket-counts-wrap", "its histogram's counts add up to more than 2^64-1", r)

    # The counts.
    r = g()
    r["requests"] += 1
    samples = good["requests"] + good["skipped_recorded"]
    add("requests-not-the-histogram", f"its histogram holds {samples} samples for {samples + 1} requests", agreeing(r))
    for name, value, expected in (("requests-negative", -1, '"requests" is negative'),
                                  ("requests-fraction", good["requests"] + 0.5, '"requests" is not an integer'),
                                  ("requests-string", str(good["requests"]), '"requests" is a string, not a count'),
                                  ("requests-1e30", 1e30, '"requests" is not an integer'),
                                  ("connections-zero", 0, '"connections" is 0, not 1 to'),
                                  ("size-zero", 0, '"size" is 0, not 1 to 16777216'),
                                  ("pipeline-5000", 5000, '"pipeline" is 5000, not 1 to 4096'),
                                  ("echoed-on-more-than-connections", good["connections"] + 1,
                                   f'"connections_echoed" is {good["connections"] + 1}, '
                                   f'not 0 to {good["connections"]}'),
                                  ("generators-zero", 0, '"generators" is 0, not 1 to'),
                                  ("errors-null", None, '"errors" is null, not a count'),
                                  ("lost-in-a-tcp-report", 5, "a TCP report with lost datagrams"),
                                  ("seconds-negative", -1, '"seconds" is -1, not a number of 0 or more'),
                                  ("seconds-string", "0.5", '"seconds" is a string, not a number')):
        r = g()
        key = name.split("-")[0].replace("echoed", "connections_echoed")
        r[key] = value
        add(name, expected, r)
    r = g()
    del r["requests"]
    add("requests-missing", 'no "requests"', r)

    # What run it was.
    r = g()
    r["protocol"] = "sctp"
    add("protocol-sctp", "its protocol is 'sctp', not tcp or udp", r)
    r = g()
    r["protocol"] = "\x1b[2J\x1b[31mtcp"
    add("protocol-with-escapes", "its protocol is '?[2J?[31mtcp'", r)
    r = g()
    r["tls"] = "yes"
    add("tls-yes", '"tls" is a string, not true or false', r)
    r = g()
    r["protocol"], r["tls"] = "udp", True
    add("udp-over-tls", "a UDP report over TLS", r)
    r = g()
    r["size"] = 128
    add("other-size", "its --size is 128, good-b.json's is 64 (only runs with the same settings merge)", r)

    # The histogram: units, layout, extremes.
    r = g()
    r["histogram"]["unit"] = "us"
    add("unit-us", "its histogram is in 'us', not in ns", r)
    r = g()
    r["histogram"]["sub_buckets"] = 128
    add("sub-buckets-128", "128 buckets per power of two", r)
    r = g()
    r["histogram"]["min"] = r["histogram"]["max"] + 1
    add("min-above-max", "is above its max", agreeing(r))
    r = g()
    r["histogram"]["max"] = 2**64 - 1
    add("max-2-to-the-64-minus-1", "its histogram's max 18446744073709551615 is not in its last bucket", agreeing(r))
    r = g()
    first = r["histogram"]["buckets"][0][0]
    r["histogram"]["min"] = upper_edge(first) + 1
    add("min-not-in-the-first-bucket", "is not in its first bucket", agreeing(r))
    r = g()
    r["requests"], r["histogram"]["buckets"], r["histogram"]["min"], r["histogram"]["max"] = 0, [], 0, 5000
    r["skipped"] = r["skipped_recorded"] = 0
    r["uncorrected_histogram"].update(buckets=[], min=0, max=0)
    add("empty-histogram-with-a-max", "an empty histogram with a min or max", agreeing(r))
    r = g()
    longest = 20 * 10**9  # 20 s in a run of 0.5 s
    r["histogram"]["buckets"][-1] = [index_of(longest), r["histogram"]["buckets"][-1][1]]
    r["histogram"]["max"] = longest
    add("round-trip-longer-than-the-run", "is longer than the run (0.5 s)", agreeing(r))
    r = g()
    r["histogram"] = r["histogram"]["buckets"]
    add("histogram-an-array", '"histogram" is an array, not an object', r)
    r = g()
    del r["histogram"]
    add("histogram-missing", 'no "histogram"', r)

    # What it states beside the counts.
    r = g()
    r["latency_us"]["p99"] = round(r["latency_us"]["p99"] / 2, 3)
    add("p99-halved", '"latency_us.p99" is', r)
    r = g()
    r["latency_us"]["max"] = round(r["latency_us"]["max"] * 10, 3)
    add("max-us-tenfold", '"latency_us.max" is not its histogram\'s max', r)
    r = g()
    del r["latency_us"]
    add("latency-missing", 'no "latency_us"', r)
    r = g()
    r["req_per_s"] = round(r["req_per_s"] * 2, 3)
    add("req-per-s-doubled", '"req_per_s" is', r)

    # Open loop (--rate): the schedule kept, and the uncorrected histogram.
    # (name, refusal, the object changed (None: the report), key, value)
    assert good["skipped"] > 0, "good-a.json must have skipped sends"
    uncorrected_p99 = round(good["uncorrected_latency_us"]["p99"] * 3, 3)
    for name, expected, where, key, value in (
            ("load-model-sideways", '"load_model" is "sideways", not "open_loop", "closed_loop" or null', None,
             "load_model", "sideways"),
            ("closed-loop-with-a-rate", 'a closed-loop report (no --rate) with a "rate"', None, "load_model",
             "closed_loop"),
            ("rate-zero", 'an open-loop report with a "rate" of 0', None, "rate", 0),
            ("rate-negative", '"rate" is -600, not a number of 0 or more', None, "rate", -600),
            ("skipped-recorded-above-skipped", f'"skipped_recorded" is {good["skipped"] + 1}, not 0 to '
             f'{good["skipped"]}', None, "skipped_recorded", good["skipped"] + 1),
            ("late-negative", '"late" is negative', None, "late", -1),
            ("uncorrected-unit-ms", "its histogram is in 'ms', not in ns", "uncorrected_histogram", "unit", "ms"),
            ("uncorrected-p99-tripled", '"uncorrected_latency_us.p99" is', "uncorrected_latency_us", "p99",
             uncorrected_p99)):
        r = g()
        (r[where] if where else r)[key] = value
        add(name, expected, r)
    r = g()
    r["skipped_recorded"] = 0
    add("skipped-not-in-the-histogram",
        f"its histogram holds {samples} samples for {good['requests']} requests (one per request)", agreeing(r))
    r = g()
    r["uncorrected_histogram"]["buckets"][0][1] += 1
    add("uncorrected-not-the-requests", f"its uncorrected_histogram holds {good['requests'] + 1} samples for "
        f"{good['requests']} requests", agreeing(r))
    r = g()
    del r["uncorrected_histogram"]
    add("uncorrected-missing", 'no "uncorrected_histogram"', r)
    # A closed-loop run (its skipped sends made requests) beside open-loop good-b.
    r = g()
    for key in ("rate", "late", "skipped", "skipped_recorded", "uncorrected_histogram", "uncorrected_latency_us"):
        del r[key]
    r["load_model"] = "closed_loop"
    r["requests"] += good["skipped_recorded"]
    r["bytes"] += good["skipped_recorded"] * good["size"]
    add("closed-loop-beside-open-loop",
        "its load model is closed loop (no --rate), good-b.json's is open loop (--rate)", agreeing(r))

    # When it ran.
    r = g()
    r["started"], r["ended"] = r["ended"], r["started"]
    add("ended-before-started", "it ended before it started", r)
    r = g()
    r["started"] = "yesterday"
    add("started-yesterday", '"started" is "yesterday", not a time', r)
    r = g()
    r["started"] = r["started"].replace("T", " ")
    add("started-with-a-space", '"started" is', r)
    r = g()
    del r["ended"]
    add("ended-missing", '"ended" is missing', r)
    r = g()
    r["ended"] = r["started"][:17] + "59.999Z"  # the same minute's last ms: seconds later than 0.5 s
    r["overlap"]["to"] = r["ended"]
    add("window-longer-than-its-seconds", "it ran 0.5 s from", r)
    r = g()
    r["overlap"]["from"] = "2000-01-01T00:00:00.000Z"
    add("overlap-outside-the-run", "not within its run", r)
    r = g()
    del r["started"], r["ended"]
    add("overlap-without-times", 'an "overlap" without "started" and "ended"', r)

    # Runs: ids, and one run twice.
    r = g()
    r["runs"] = ["x"]
    add("run-id-not-hex", "a run id that is not 16 hex digits", r)
    r = g()
    r["generators"], r["runs"] = 2, [r["runs"][0], r["runs"][0]]
    add("run-id-twice", f"it holds run {good['runs'][0]} twice", r)
    r = g()
    r["runs"] = other["runs"]
    add("run-of-good-b", f"it holds run {other['runs'][0]}, which good-b.json holds too", r)
    add("copy-of-good-b", "it is the same report as good-b.json", text(other))
    add("copy-of-good-b-indented", "it is the same report as good-b.json", json.dumps(other, indent=2) + "\n")

    # Sums past 2^64-1 with good-b.
    r = g()
    r["connections"] = 2**64 - 1
    add("connections-wrap-with-good-b", "the connections of the reports add up to more than 18446744073709551615", r)
    r = g()
    big = 2**64 - 10
    r["histogram"]["buckets"] = [[r["histogram"]["buckets"][0][0], big]]
    r["histogram"]["max"] = r["histogram"]["min"]
    u = r["uncorrected_histogram"]
    u["buckets"], u["max"] = [[u["buckets"][0][0], big]], u["min"]
    r["requests"], r["skipped"], r["skipped_recorded"] = big, 0, 0
    add("requests-wrap-with-good-b", "the requests of the reports add up to more than 18446744073709551615",
        agreeing(r))

    # Not JSON, or not one report.
    good_text = text(good)
    add("key-twice", 'the key "requests" is given twice in one object', '{"requests":0,' + good_text[1:])
    add("truncated", "not JSON", good_text[: len(good_text) // 2])
    add("two-reports", "not JSON", good_text + good_text)
    add("array", "not a JSON object: it starts with '[]'", "[]\n")
    add("progress-lines-first", "(progress or log lines mixed in?",
        "[1s] 31000 requests, 31000 req/s, p99 350.2us, errors 0, mismatches 0\n" + good_text)
    add("log-line-after", "not JSON",
        good_text + "[2026-01-01 00:00:00.000] [echo-client] [error] connection 0 failed\n")
    add("invalid-utf8", "not JSON", good_text.replace('"tcp"', '"tc\xff"').encode("latin-1"))
    add("nested-deep", "not JSON", good_text[:-2] + ',"extra":' + "[" * 100 + "]" * 100 + "}\n")
    add("whitespace-only", "only white space", " \n\t\n")
    add("not-json-at-all", "not a JSON object: it starts with 'hello'", "hello\nworld\n")
    return out


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else HERE
    with open(os.path.join(HERE, "good-a.json")) as f:
        good = json.load(f)
    with open(os.path.join(HERE, "good-b.json")) as f:
        other = json.load(f)
    expected = {}
    for name, words, content in cases(good, other):
        path = os.path.join(out_dir, f"hostile-{name}.json")
        with open(path, "wb") as f:
            f.write(content if isinstance(content, bytes) else content.encode())
        expected[f"hostile-{name}.json"] = words
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
