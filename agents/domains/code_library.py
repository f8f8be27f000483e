"""Hidden reference functions for generated code-synthesis tasks.

Each reference is trusted code of ours (never model output), so it runs on the host to compute
expected outputs. A task shows the description, the signature and a few examples; the hidden
tests are edge cases plus seeded random inputs, all answered by the reference, which makes the
scoring a differential test of the candidate against the reference.
"""

from __future__ import annotations

import math
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Reference:
    name: str
    signature: str
    description: str
    fn: Callable[..., Any]
    gen: Callable[[random.Random], tuple]  # random arguments
    edge: list[tuple] = field(default_factory=list)  # edge-case arguments


def _ints(rng: random.Random, lo: int = -20, hi: int = 20, n_lo: int = 0,
          n_hi: int = 10) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(rng.randint(n_lo, n_hi))]


def _word(rng: random.Random, alphabet: str = string.ascii_lowercase, lo: int = 1,
          hi: int = 7) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def _sentence(rng: random.Random) -> str:
    return " ".join(_word(rng, "abcdeio") for _ in range(rng.randint(0, 6)))


# --- reference implementations -------------------------------------------------------------

def reverse_words(s: str) -> str:
    return " ".join(reversed(s.split()))


def is_palindrome(s: str) -> bool:
    t = [c.lower() for c in s if c.isalnum()]
    return t == t[::-1]


def count_vowels(s: str) -> int:
    return sum(1 for c in s.lower() if c in "aeiou")


def run_length_encode(s: str) -> str:
    out, i = [], 0
    while i < len(s):
        j = i
        while j < len(s) and s[j] == s[i]:
            j += 1
        out.append(f"{s[i]}{j - i}")
        i = j
    return "".join(out)


def second_largest(nums: list[int]) -> int | None:
    distinct = sorted(set(nums))
    return distinct[-2] if len(distinct) >= 2 else None


def running_sum(nums: list[int]) -> list[int]:
    out, total = [], 0
    for n in nums:
        total += n
        out.append(total)
    return out


def dedupe(items: list[int]) -> list[int]:
    seen, out = set(), []
    for x in items:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def digit_sum(n: int) -> int:
    return sum(int(c) for c in str(abs(n)))


def gcd_of_list(nums: list[int]) -> int:
    g = 0
    for n in nums:
        g = math.gcd(g, n)
    return g


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    return all(n % d for d in range(2, math.isqrt(n) + 1))


def fizzbuzz(n: int) -> list[str]:
    return ["FizzBuzz" if i % 15 == 0 else "Fizz" if i % 3 == 0 else "Buzz" if i % 5 == 0
            else str(i) for i in range(1, n + 1)]


def rotate_right(nums: list[int], k: int) -> list[int]:
    if not nums:
        return []
    k %= len(nums)
    return nums[-k:] + nums[:-k] if k else list(nums)


def max_subarray_sum(nums: list[int]) -> int:
    best = cur = nums[0]
    for n in nums[1:]:
        cur = max(n, cur + n)
        best = max(best, cur)
    return best


def merge_intervals(intervals: list[list[int]]) -> list[list[int]]:
    out: list[list[int]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def caesar_shift(s: str, k: int) -> str:
    def shift(c: str) -> str:
        if c.islower():
            return chr((ord(c) - 97 + k) % 26 + 97)
        if c.isupper():
            return chr((ord(c) - 65 + k) % 26 + 65)
        return c
    return "".join(shift(c) for c in s)


def longest_common_prefix(words: list[str]) -> str:
    if not words:
        return ""
    prefix = words[0]
    for w in words[1:]:
        while not w.startswith(prefix):
            prefix = prefix[:-1]
    return prefix


def to_binary(n: int) -> str:
    return bin(n)[2:]


def flatten(nested: list) -> list[int]:
    out: list[int] = []
    for x in nested:
        out.extend(flatten(x) if isinstance(x, list) else [x])
    return out


def balanced_brackets(s: str) -> bool:
    pairs, stack = {")": "(", "]": "[", "}": "{"}, []
    for c in s:
        if c in "([{":
            stack.append(c)
        elif c in pairs:
            if not stack or stack.pop() != pairs[c]:
                return False
    return not stack


def pascal_row(n: int) -> list[int]:
    return [math.comb(n, k) for k in range(n + 1)]


def to_roman(n: int) -> str:
    table = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
             (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
    out = []
    for value, sym in table:
        while n >= value:
            out.append(sym)
            n -= value
    return "".join(out)


def collatz_steps(n: int) -> int:
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


def _palindromish(rng: random.Random) -> str:
    w = _word(rng, "abc", 0, 4)
    kind = rng.randrange(3)
    if kind == 0:
        return w + rng.choice(["", "x"]) + w[::-1]
    if kind == 1:
        return w.upper() + ", " + rng.choice(["", "!"]) + w[::-1]
    return _word(rng, "ab", 1, 6)


def _nested(rng: random.Random, depth: int = 0) -> list:
    return [(_nested(rng, depth + 1) if depth < 3 and rng.random() < 0.3 else rng.randint(0, 9))
            for _ in range(rng.randint(0, 4))]


def _intervals(rng: random.Random) -> list[list[int]]:
    out = []
    for _ in range(rng.randint(0, 6)):
        a = rng.randint(0, 20)
        out.append([a, a + rng.randint(0, 6)])
    return out


def _prefix_words(rng: random.Random) -> list[str]:
    stem = _word(rng, "ab", 0, 3)
    return [stem + _word(rng, "abc", 0, 3) for _ in range(rng.randint(1, 4))]


REFERENCES: list[Reference] = [
    Reference("reverse_words", "reverse_words(s: str) -> str",
              "Return the words of s in reverse order, separated by single spaces "
              "(words are separated by any whitespace).", reverse_words,
              lambda r: (_sentence(r),), [("",), ("  hello   world ",), ("one",)]),
    Reference("is_palindrome", "is_palindrome(s: str) -> bool",
              "Return True if s reads the same backwards, ignoring case and every character "
              "that is not a letter or digit.", is_palindrome,
              lambda r: (_palindromish(r),),
              [("",), ("A man, a plan, a canal: Panama",), ("ab",)]),
    Reference("count_vowels", "count_vowels(s: str) -> int",
              "Count the vowels a, e, i, o, u in s, upper or lower case.", count_vowels,
              lambda r: (_word(r, string.ascii_letters + " ", 0, 12),), [("",), ("AEIOU xyz",)]),
    Reference("run_length_encode", "run_length_encode(s: str) -> str",
              "Run-length encode s: each run of one repeated character becomes the character "
              "followed by the run length, e.g. 'aaab' -> 'a3b1'.", run_length_encode,
              lambda r: (_word(r, "abc", 0, 10),), [("",), ("aaaaaaaaaaaa",)]),
    Reference("second_largest", "second_largest(nums: list[int]) -> int | None",
              "Return the second largest distinct value in nums, or None if there are fewer "
              "than two distinct values.", second_largest,
              lambda r: (_ints(r),), [([],), ([5, 5, 5],), ([-1, -2],)]),
    Reference("running_sum", "running_sum(nums: list[int]) -> list[int]",
              "Return the list of prefix sums of nums.", running_sum,
              lambda r: (_ints(r),), [([],), ([0],)]),
    Reference("dedupe", "dedupe(items: list[int]) -> list[int]",
              "Remove repeated values, keeping the first occurrence of each and the original "
              "order.", dedupe, lambda r: (_ints(r, 0, 5),), [([],), ([1, 1, 1],)]),
    Reference("digit_sum", "digit_sum(n: int) -> int",
              "Return the sum of the decimal digits of n (ignore the sign).", digit_sum,
              lambda r: (r.randint(-10**6, 10**6),), [(0,), (-909,)]),
    Reference("gcd_of_list", "gcd_of_list(nums: list[int]) -> int",
              "Return the greatest common divisor of all numbers in nums (non-negative; 0 for "
              "an empty list).", gcd_of_list,
              lambda r: ([r.randint(0, 12) * r.choice([1, 2, 6]) for _ in range(r.randint(0, 5))],),
              [([],), ([0, 0],), ([12, -18],)]),
    Reference("is_prime", "is_prime(n: int) -> bool",
              "Return True if n is a prime number.", is_prime,
              lambda r: (r.randint(-5, 200),), [(0,), (1,), (2,), (97,), (91,)]),
    Reference("fizzbuzz", "fizzbuzz(n: int) -> list[str]",
              "Return the FizzBuzz strings for 1..n: 'Fizz' for multiples of 3, 'Buzz' for "
              "multiples of 5, 'FizzBuzz' for both, otherwise the number as a string.", fizzbuzz,
              lambda r: (r.randint(0, 20),), [(0,), (15,)]),
    Reference("rotate_right", "rotate_right(nums: list[int], k: int) -> list[int]",
              "Rotate nums to the right by k places (k may exceed the length or be 0); return "
              "a new list.", rotate_right,
              lambda r: (_ints(r, 0, 9), r.randint(0, 12)), [([], 3), ([1, 2, 3], 3), ([1], 0)]),
    Reference("max_subarray_sum", "max_subarray_sum(nums: list[int]) -> int",
              "Return the largest sum of a non-empty contiguous run of nums (nums is non-empty).",
              max_subarray_sum, lambda r: (_ints(r, n_lo=1),), [([-3],), ([-2, -1, -5],)]),
    Reference("merge_intervals", "merge_intervals(intervals: list[list[int]]) -> list[list[int]]",
              "Merge overlapping or touching closed intervals [a, b] and return them sorted by "
              "start.", merge_intervals, lambda r: (_intervals(r),),
              [([],), ([[1, 3], [3, 5]],), ([[5, 6], [1, 2]],)]),
    Reference("caesar_shift", "caesar_shift(s: str, k: int) -> str",
              "Shift every ASCII letter in s by k places in the alphabet (wrapping, keeping "
              "case); leave other characters alone. k may be negative.", caesar_shift,
              lambda r: (_word(r, string.ascii_letters + " !", 0, 10), r.randint(-30, 30)),
              [("", 5), ("xyz XYZ", 3)]),
    Reference("longest_common_prefix", "longest_common_prefix(words: list[str]) -> str",
              "Return the longest string that every word in words starts with ('' for an empty "
              "list).", longest_common_prefix,
              lambda r: (_prefix_words(r),), [([],), (["same", "same"],), (["a", "b"],)]),
    Reference("to_binary", "to_binary(n: int) -> str",
              "Return the binary representation of the non-negative integer n without a "
              "prefix, e.g. 5 -> '101'.", to_binary, lambda r: (r.randint(0, 5000),), [(0,), (1,)]),
    Reference("flatten", "flatten(nested: list) -> list[int]",
              "Flatten a list that may contain integers and (arbitrarily nested) lists into a "
              "flat list of integers, in order.", flatten,
              lambda r: (_nested(r),), [([],), ([[[]]],), ([1, [2, [3, [4]]]],)]),
    Reference("balanced_brackets", "balanced_brackets(s: str) -> bool",
              "Return True if the brackets (), [] and {} in s are balanced and properly nested; "
              "other characters are ignored.", balanced_brackets,
              lambda r: (_word(r, "()[]{}a", 0, 10),), [("",), ("([]{})",), ("(]",), ("((",)]),
    Reference("pascal_row", "pascal_row(n: int) -> list[int]",
              "Return row n of Pascal's triangle (row 0 is [1]).", pascal_row,
              lambda r: (r.randint(0, 15),), [(0,), (1,)]),
    Reference("to_roman", "to_roman(n: int) -> str",
              "Return n (1..3999) in Roman numerals, using subtractive forms such as IV and CM.",
              to_roman, lambda r: (r.randint(1, 3999),), [(1,), (4,), (3999,), (944,)]),
    Reference("collatz_steps", "collatz_steps(n: int) -> int",
              "Return how many Collatz steps (n -> n/2 if even, else 3n+1) it takes n (>= 1) to "
              "reach 1.", collatz_steps, lambda r: (r.randint(1, 300),), [(1,), (27,)]),
]

BY_NAME = {ref.name: ref for ref in REFERENCES}
