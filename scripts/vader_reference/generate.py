#!/usr/bin/env python3
"""Writes the VADER parity fixture for the listening service:
services/listening/tests/fixtures/vader/reference.jsonl.

The reference is the real Python `vaderSentiment` 3.3.2 (its wheel bundles
vader_lexicon.txt and emoji_utf8_lexicon.txt), run unmodified except for one
thing: the module-global name `sum` is bound to a pure-Python port of CPython
3.12's builtin `sum()`.

Why: `SentimentIntensityAnalyzer.score_valence` calls `sum(sentiments)`, and
CPython 3.12 changed builtin `sum()` of floats from a plain left fold to
Neumaier compensated summation (gh-100425, Python/bltinmodule.c,
builtin_sum_impl). The last bit of the sum, and so sometimes the rounded
scores, depend on the interpreter. Earshot targets Python >= 3.12 behaviour,
but the machine that wrote this fixture had only CPython 3.11.7, so the 3.12
algorithm is ported below (`sum_3_12`) line by line from the C code:

* the int fast path (start is the int 0; ints are added exactly as C longs);
* the first non-int item is added with PyNumber_Add (int + float: the int is
  converted to a double, so a leading -0.0 becomes +0.0);
* then the float loop: a float x is added with Neumaier compensation
  (t = f + x; c += (f - t) + x if |f| >= |x| else (x - t) + f; f = t), while
  an int that fits a C long is added PLAINLY, `f_result += (double)value`,
  leaving the compensation alone (3.12 and 3.13; 3.14 compensates ints too,
  see `sum_3_14`);
* at the end, `if (c && isfinite(c)) f_result += c`.

VADER's sentiments list mixes ints (0 for tokens without valence, and the int
values 3 and -2 of the special cases "the shit", "the bomb", "to die for",
"yeah right") with floats, so every path above is exercised.

The script checks its ports against the running interpreter's builtin sum on
every list it sees (3.11's plain fold on 3.11, `sum_3_12` on 3.12 and 3.13,
`sum_3_14` on 3.14 and later), and records in each fixture line where plain
3.11 summation would give other scores (field "py311"), so the Rust test can
show that it really reproduces 3.12 and not 3.11.

Run from anywhere; it creates /tmp/earshot-vader-venv and installs
vaderSentiment==3.3.2 there on first use:

    python3 scripts/vader_reference/generate.py [--out PATH] [--data DIR]

Sentence sources (all redistributable and vendored in data/, see
data/README.md for licences): hand-written cases for every VADER rule, plus
seeded random samples of the VADER ICWSM 2014 ground truth (tweets and Amazon
review snippets, MIT), banking77 (CC BY 4.0) and Bitext support requests
(CDLA-Sharing 1.0). TweetEval has no redistribution licence, so none of its
text goes into the committed fixture.
"""

import argparse
import csv
import json
import math
import os
import random
import subprocess
import sys

VENV = "/tmp/earshot-vader-venv"
PIN = "vaderSentiment==3.3.2"
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_OUT = os.path.join(REPO, "services/listening/tests/fixtures/vader/reference.jsonl")
DEFAULT_DATA = os.path.join(REPO, "data")
SEED = 0xEA25_0AD3


def ensure_venv():
    """Re-executes this script inside a venv holding the pinned reference."""
    python = os.path.join(VENV, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    if not os.path.exists(python):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    subprocess.check_call([python, "-m", "pip", "install", "--quiet", PIN])
    os.execv(python, [python, os.path.abspath(__file__)] + sys.argv[1:])


# --- CPython's builtin sum(), ported -------------------------------------

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1


def _int_fast_path(it, start):
    """The int fast path shared by 3.11-3.14. Returns (done, result)."""
    i_result = start
    for item in it:
        if type(item) is int or type(item) is bool:
            b = int(item)
            if LONG_MIN <= b <= LONG_MAX and (
                b <= LONG_MAX - i_result if i_result >= 0 else b >= LONG_MIN - i_result
            ):
                i_result += b
                continue
        return False, i_result + item  # PyNumber_Add
    return True, i_result


def _generic(it, result):
    for item in it:
        result = result + item
    return result


def sum_3_11(iterable, start=0):
    """CPython 3.11 builtin sum: a plain left fold once a float appears."""
    it = iter(iterable)
    result = start
    if type(result) is int and LONG_MIN <= result <= LONG_MAX:
        done, result = _int_fast_path(it, result)
        if done:
            return result
    if type(result) is float:
        f = result
        for item in it:
            if type(item) is float:
                f += item
                continue
            if isinstance(item, int) and LONG_MIN <= item <= LONG_MAX:
                f += float(item)
                continue
            return _generic(it, f + item)
        return f
    return _generic(it, result)


def sum_3_12(iterable, start=0):
    """CPython 3.12 (and 3.13) builtin sum: Neumaier compensation for floats,
    ints in the float loop added plainly."""
    it = iter(iterable)
    result = start
    if type(result) is int and LONG_MIN <= result <= LONG_MAX:
        done, result = _int_fast_path(it, result)
        if done:
            return result
    if type(result) is float:
        f = result
        c = 0.0
        for item in it:
            if type(item) is float:
                x = item
                t = f + x
                if math.fabs(f) >= math.fabs(x):
                    c += (f - t) + x
                else:
                    c += (x - t) + f
                f = t
                continue
            if isinstance(item, int) and LONG_MIN <= item <= LONG_MAX:
                f += float(item)  # f_result += (double)value
                continue
            if c and math.isfinite(c):
                f += c
            return _generic(it, f + item)
        if c and math.isfinite(c):
            f += c
        return f
    return _generic(it, result)


def sum_3_14(iterable, start=0):
    """CPython 3.14 builtin sum (gh-122234): ints in the float loop are
    compensated too. Only used to report where 3.14 would differ."""
    it = iter(iterable)
    result = start
    if type(result) is int and LONG_MIN <= result <= LONG_MAX:
        done, result = _int_fast_path(it, result)
        if done:
            return result
    if type(result) is float:
        f = result
        c = 0.0
        for item in it:
            if type(item) is float or isinstance(item, int):
                x = float(item)
                t = f + x
                if math.fabs(f) >= math.fabs(x):
                    c += (f - t) + x
                else:
                    c += (x - t) + f
                f = t
                continue
            if c and math.isfinite(c):
                f += c
            return _generic(it, f + item)
        if c and math.isfinite(c):
            f += c
        return f
    return _generic(it, result)


def native_port():
    v = sys.version_info[:2]
    if v < (3, 12):
        return sum_3_11
    if v < (3, 14):
        return sum_3_12
    return sum_3_14


# --- sentences -------------------------------------------------------------

HAND_WRITTEN = [
    # VADER's own demo sentences (vaderSentiment.py __main__).
    "VADER is smart, handsome, and funny.",
    "VADER is smart, handsome, and funny!",
    "VADER is very smart, handsome, and funny.",
    "VADER is VERY SMART, handsome, and FUNNY.",
    "VADER is VERY SMART, handsome, and FUNNY!!!",
    "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!",
    "VADER is not smart, handsome, nor funny.",
    "The book was good.",
    "At least it isn't a horrible book.",
    "The book was only kind of good.",
    "The plot was good, but the characters are uncompelling and the dialog is not great.",
    "Today SUX!",
    "Today only kinda sux! But I'll get by, lol",
    "Make sure you :) or :D today!",
    "Catch utf-8 emoji such as 💘 and 💋 and 😁",
    "Not bad at all",
    "Sentiment analysis has never been good.",
    "Sentiment analysis has never been this good!",
    "Most automated sentiment analysis tools are shit.",
    "With VADER, sentiment analysis is the shit!",
    "Other sentiment analysis tools can be quite bad.",
    "On the other hand, VADER is quite bad ass",
    "VADER is such a badass!",
    "Without a doubt, excellent idea.",
    "Roger Dodger is one of the most compelling variations on this theme.",
    "Roger Dodger is at least compelling as a variation on the theme.",
    "Roger Dodger is one of the least compelling variations on this theme.",
    "Not such a badass after all.",
    "Without a doubt, an excellent idea.",
    "It was one of the worst movies I've seen, despite good reviews. Unbelievably bad acting!! "
    "Poor direction. VERY poor production. The movie was bad. Very bad movie. VERY BAD movie!",
    # Negations, one to three words before the sentiment word.
    "The food is not good.",
    "The food is not very good.",
    "The food is not really very good at all.",
    "It isn't bad at all.",
    "It isnt bad",
    "I don't hate it.",
    "I dont love it",
    "I never liked it.",
    "I have never been so happy.",
    "I have never been this happy!",
    "never so much fun",
    "It was never that good.",
    "Nothing good ever happens here.",
    "I cannot complain about the support.",
    "Can't complain, the agent was helpful.",
    "Uh-uh, that is not great.",
    "uhuh not happy",
    "wasn't happy, weren't pleased, wouldn't recommend",
    "Neither good nor bad.",
    "I rarely enjoy these calls.",
    "Seldom have I seen such a lovely reply.",
    "Despite the great price, it broke.",
    "The support was without question helpful.",
    "Without doubt a great phone.",
    "without a doubt great",
    "without any doubt great service",
    "I ain't happy with this bank",
    "Y'all didn't help, couldn't help, shouldn't have bothered.",
    "I mightn't like it, needn't worry",
    "isn't",
    "not",
    "NOT good",
    "Not GOOD at all",
    "not, good",
    "not not good",
    # "no" as a negation and as a word.
    "no good",
    "No good deed goes unpunished.",
    "No. Good.",
    "no",
    "No!",
    "no problem at all",
    "I have no complaints",
    "There is no joy or love in this.",
    "There was no help nor support from anyone.",
    "no, no, no, this is terrible",
    "No one was friendly.",
    "NO GOOD REASON, none at all",
    "no no good",
    "yes no maybe",
    # "but": earlier half damped, later half boosted; repeated values.
    "The service was great but the food was awful.",
    "The food was awful but the service was great.",
    "but",
    "But it was fine.",
    "good good but good good",
    "bad, bad, but bad bad bad",
    "It is ok but it is ok",
    "Nice, but nice, but nice.",
    "I like it but I love it but I hate it",
    "great but",
    "but great",
    "I'm sad, BUT happy",
    "good but no bad",
    "not bad but not good",
    "kind of good but kind of bad",
    "happy happy joy but sad sad joy happy",
    # ALL CAPS emphasis (only when some but not all words are capitalised).
    "I LOVE this phone",
    "THIS IS GREAT",
    "This is GREAT!!!",
    "VERY good",
    "very GOOD",
    "GOOD",
    "The agent was SO RUDE to me",
    "EXTREMELY HAPPY with the refund!",
    "I am EXTREMELY happy",
    "I HATE HATE HATE waiting on hold",
    "it's NOT ok",
    "WTF is this? Never AGAIN.",
    "A+ SERVICE, 10/10",
    # Boosters and dampeners.
    "extremely bad",
    "so so good",
    "very very very good",
    "The update is slightly annoying.",
    "barely acceptable",
    "kinda nice",
    "kind of nice",
    "It was kind of a good day",
    "kind-of nice, kindof nice",
    "sort of ok, sorta good, sort-of bad",
    "The movie was sort of not good",
    "just enough good",
    "It was just enough fun to finish",
    "a little bit sad",
    "hardly a great day",
    "absolutely fabulous",
    "fucking awesome",
    "hella good food",
    "the most amazing app, the more fun the better",
    "incredibly incredibly incredibly disappointing",
    "totally not cool",
    "somewhat helpful, marginally useful, occasionally brilliant",
    "kind",
    "kind of",
    "She is a kind person",
    "What kind of service is this?",
    # "least".
    "least favourite",
    "my least favourite airline",
    "at least it was good",
    "at the very least good",
    "very least good",
    "the least good thing",
    "Least good",
    "least",
    # Special-case idioms (positions before and after the lexicon word).
    "the shit",
    "This party is the shit!",
    "the food here is the shit",
    "you are the bomb",
    "the bomb",
    "this new album is the bomb, love it",
    "what a bad ass car",
    "he is a badass",
    "I waited at the bus stop and it was fine",
    "yeah right",
    "oh yeah right like that would help",
    "the new ceo is the kiss of death for this company",
    "a chocolate cake to die for",
    "this chocolate cake is to die for, amazing",
    "the beating heart of the city",
    "my beating heart is happy",
    "well this is the shit and the bomb, lol, awesome",
    "lol this is the shit great fun nice",
    "so good, nice, the app is to die for haha",
    "yeah right, the update is great, sure, lol",
    "cut the mustard, hand to mouth, under the weather, break a leg",
    # Punctuation emphasis.
    "Good!",
    "Good!!",
    "Good!!!!!!",
    "Good?",
    "Good??",
    "Good???",
    "Good????",
    "Bad?!?!",
    "Why is my card blocked??? Terrible!!!",
    "!!!",
    "???",
    "?!",
    "...",
    "!?!?!?!?",
    "- - -",
    "@#$%^&*()",
    "Is this ok!",
    "It's ok!",
    "ok",
    "ok.",
    "lol!!",
    "#happy #sad #ok",
    "'good' (good) [good] good... --bad-- \"great\"",
    "good… great… “amazing”",
    # Emoticons and emoji.
    ":)",
    ":(",
    ":-)",
    ":D",
    ":d",
    "XD",
    "xD",
    ":'(",
    "<3",
    "</3",
    ";)",
    ":-P",
    "(:",
    ":)!",
    "a:)",
    "great :) :) :)",
    "so sad :(",
    "😀",
    "😀😀😀",
    "good😀",
    "😀good",
    "😡😡 worst bank ever",
    "love it ❤️",
    "❤",
    "thanks 👍🏽",
    "🇺🇸 🇬🇧",
    "©®™",
    "🔛 🆙 go",
    "I'm 😭😭😭 because my card 💳 was declined",
    "😂😂😂 you guys",
    "💔",
    "Nice day ☀️ #blessed",
    # Empty-ish and whitespace.
    "",
    " ",
    "\t\n ",
    ".",
    "a",
    "I",
    "\u00a0",
    "\u200b",
    "good\u00a0day",
    "bad\u2003day",
    "good\x1cbad",
    "happy\u3000sad",
    "\u2028good\u2029",
    # Non-English and non-ASCII case mappings.
    "Je suis très content du service, merci beaucoup !",
    "El servicio fue terrible, nunca más.",
    "Das ist nicht gut. Sehr schlecht!",
    "Это ужасно, я очень недоволен",
    "服务很好，谢谢！",
    "サービスは最悪でした",
    "هذا رائع جدا",
    "ÉNORME problème avec ma carte",
    "İstanbul güzel, GOOD",
    "ΣΟΦΟΣ good",
    "\u212aind of good",
    "\u212aIND OF GOOD thing",
    "ǅOBRO good",
    "STRAẞE GOOD",
    "naïve café good",
    "GOOD café",
    # Long texts.
    "I have been a customer of this bank for years and I was always happy with the service, "
    "but this month my card was blocked twice, nobody answered the phone, the chat bot kept "
    "asking the same useless questions, and when I finally reached an agent she was rude and "
    "dismissive. I am extremely disappointed and I will not recommend you to anyone. "
    "Terrible, terrible experience!!! Fix your support or lose your customers. :(",
    "Wow. Just wow. The new app is fantastic: fast, beautiful, easy to use, and the support "
    "team answered in minutes! I love the dark mode, I love the budgeting tool, and I really "
    "really love that transfers are instant now. Great job, thank you so much :) :) "
    "Honestly the best banking app I have ever used, not even kidding. 10/10 would recommend!",
]


# Word salads from lexicon words, found by a seeded random search, whose
# rounded scores depend on the interpreter's sum(): the corpora hold only a
# handful of such sentences. The first group scores differently under 3.11's
# plain fold; the second (each with an int-valued special case such as
# "the bomb") differently under 3.14's sum, which compensates ints too.
# Three-word ones come from the corpus search, the rest were found by
# searching random sentences of lexicon words and fillers (seed 7).
SUM_SENSITIVE = [
    "stinkhorn wowser a fresh that",
    "smuggest stammered this fears to merrythoughts the shit teasingly",
    "mwah app nicely determinableness arrogance comfortless pay",
    "grievously toughens that inspirit",
    "lowriders loom my the bomb conciliating",
    "remorse screwer to rescue and the is this",
    "sweet tantrums reassured and uncompelling competent the shit",
    "itchy yeah right card hooliganism cares app",
    "winnowers stable bashfulness a it unease my niceties",
    "timorous coziness trickery is the shit was denounces",
    "was lowliest resentfully longings ridiculousness beautifulest nurturances",
    "it misunderstood to a a restore pensive intellectualities victimized",
    "pleases a challenges the damagingly",
    "censor yeah right inhibiting affectioned hardier",
    "pissant to die for funniness innocently",
    "number decay idealizations",
    "defensively victims romantics",
    "witch pleasantnesses inhibin molestations glorified",
    "to stealings is yeah right holidays app it beautify lolz triumphalists",
    "the exonerates a the bomb bsod greeting harmed depressively suspiciousness",
    "it that confronted the shit despairingly",
    "pressureless invigorator downhearted the bomb winnable peaceniks irony bfd greeds "
    "intellectualness",
    "fun was victimhood paranoias that yeah right feudaries this was friendliness",
    "delightedness clarity freestanding to die for enlightened fascist molest distrusts is jhomf",
    "sorrowing pensive is yeah right uncompelling funner this",
    "it vitalise app my the bomb card to rancidly the mockeries",
    "a awful to weepers the shit amortizations sincerely vile",
    # The same with punctuation emphasis: a sum that is +0.0 or -1e-16 under
    # one interpreter and the opposite sign under another gets the emphasis
    # added in opposite directions (or not at all), so compound flips sign.
    "it that confronted the shit despairingly!",
    "a awful to weepers the shit amortizations sincerely vile!!",
    "sorrowing pensive is yeah right uncompelling funner this?!?",
    "to stealings is yeah right holidays app it beautify lolz triumphalists!",
    "it vitalise app my the bomb card to rancidly the mockeries!!!",
]

def read_column(path, name):
    with open(path, encoding="utf-8", newline="") as f:
        return [row[name].strip() for row in csv.DictReader(f) if row[name].strip()]


def read_tsv_text(path):
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.rstrip("\r\n").split("\t")
            if len(parts) >= 3 and parts[2].strip():
                out.append(parts[2].strip())
    return out


def load_corpora(data):
    return {
        "vader-tweets": read_tsv_text(os.path.join(data, "vader-icwsm2014/tweets_GroundTruth.txt")),
        "vader-amazon": read_tsv_text(
            os.path.join(data, "vader-icwsm2014/amazonReviewSnippets_GroundTruth.txt")
        ),
        "banking77": read_column(os.path.join(data, "banking77/train.csv"), "text")
        + read_column(os.path.join(data, "banking77/test.csv"), "text"),
        "bitext": read_column(
            os.path.join(data, "bitext-support/bitext_customer_support_sample.csv"), "instruction"
        ),
    }


SAMPLE = {"vader-tweets": 160, "vader-amazon": 40, "banking77": 25, "bitext": 25}
# At most this many extra corpus sentences whose scores differ between the
# 3.11 and 3.12 sums (and between 3.12 and 3.14), so the fixture proves the
# port matters.
DIFFERING_311 = 30
DIFFERING_314 = 10
LONG_TEXTS = 6


def main():
    ensure_venv()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--data", default=DEFAULT_DATA)
    args = parser.parse_args()

    import builtins
    from importlib.metadata import version as dist_version

    import vaderSentiment.vaderSentiment as module

    assert dist_version("vaderSentiment") == "3.3.2", dist_version("vaderSentiment")
    analyzer = module.SentimentIntensityAnalyzer()

    native = native_port()
    checked = [0]

    def make_sum(port):
        def patched(values, start=0):
            values = list(values)
            # The port of the running interpreter's sum must agree with it bit for bit.
            want, mine = builtins.sum(values, start), native(values, start)
            assert type(mine) is type(want) and repr(mine) == repr(want), (values, mine, want)
            checked[0] += 1
            return port(values, start)

        return patched

    def scores(text, port):
        module.sum = make_sum(port)
        try:
            return analyzer.polarity_scores(text)
        finally:
            del module.sum

    def key(d):
        return tuple(repr(d[k]) for k in ("neg", "neu", "pos", "compound"))

    corpora = load_corpora(args.data)
    rng = random.Random(SEED)
    chosen = []
    seen = set()

    def add(text, origin):
        if text not in seen:
            seen.add(text)
            chosen.append((text, origin))

    for text in HAND_WRITTEN:
        add(text, "hand-written")
    for text in SUM_SENSITIVE:
        add(text, "synthetic")
    for name, n in SAMPLE.items():
        for text in rng.sample(corpora[name], n):
            add(text, name)
    # Long texts: a dozen real tweets joined.
    for _ in range(LONG_TEXTS):
        add(" ".join(rng.sample(corpora["vader-tweets"], 12)), "vader-tweets-joined")

    # Sentences where the interpreter's sum changes the rounded scores.
    differing_311, differing_314 = [], []
    for name in ("vader-tweets", "vader-amazon", "banking77", "bitext"):
        for text in corpora[name]:
            s312 = key(scores(text, sum_3_12))
            if key(scores(text, sum_3_11)) != s312:
                differing_311.append((text, name))
            if key(scores(text, sum_3_14)) != s312:
                differing_314.append((text, name))
    print(
        f"corpus: {sum(len(v) for v in corpora.values())} texts, "
        f"{len(differing_311)} score differently with 3.11's sum than with 3.12's, "
        f"{len(differing_314)} differently with 3.14's than with 3.12's",
        file=sys.stderr,
    )
    for text, name in rng.sample(differing_311, min(DIFFERING_311, len(differing_311))):
        add(text, name)
    for text, name in rng.sample(differing_314, min(DIFFERING_314, len(differing_314))):
        add(text, name)

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    n311 = n314 = 0
    with open(args.out, "w", encoding="utf-8", newline="\n") as out:
        header = {
            "_header": (
                "Python vaderSentiment 3.3.2 SentimentIntensityAnalyzer().polarity_scores, "
                "run on CPython %d.%d.%d with the module-global sum bound to a port of "
                "CPython 3.12's builtin sum (Neumaier compensation; see "
                "scripts/vader_reference/generate.py). Floats are json.dumps output. "
                "\"py311\": the scores plain CPython 3.11 summation gives, where they differ. "
                "\"py314\": likewise for CPython 3.14's sum (ints compensated too)."
                % sys.version_info[:3]
            ),
            "generator": "scripts/vader_reference/generate.py",
            "reference": "vaderSentiment==3.3.2",
            "sum": "CPython 3.12 builtin_sum_impl (pure-Python port)",
        }
        out.write(json.dumps(header, ensure_ascii=False) + "\n")
        for text, origin in chosen:
            s = scores(text, sum_3_12)
            line = {k: s[k] for k in ("neg", "neu", "pos", "compound")}
            s311 = scores(text, sum_3_11)
            if key(s311) != key(s):
                line["py311"] = {k: s311[k] for k in ("neg", "neu", "pos", "compound")}
                n311 += 1
            s314 = scores(text, sum_3_14)
            if key(s314) != key(s):
                line["py314"] = {k: s314[k] for k in ("neg", "neu", "pos", "compound")}
                n314 += 1
            line["origin"] = origin
            # The text last, so a reader can find the number fields first.
            line["text"] = text
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(
        f"wrote {len(chosen)} sentences to {args.out}: {n311} differ under 3.11's sum, "
        f"{n314} under 3.14's; {checked[0]} sums checked against this interpreter's builtin",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
