"""Which capability an exchange exercises: reasoning, coding, tool_use, agentic or general."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from distillguard.core.schema import CAPABILITIES
from distillguard.signals._text import (
    CodePoints,
    Lexicon,
    as_text,
    column,
    decode,
    head_tail,
    row_sums,
    text_column,
    tokenize,
    unique_index,
)
from distillguard.signals.base import Batch, BatchContext, Signal

#: Words that appear in code itself.
CODE_SYNTAX = (
    "def return import class function const var let public private static void int printf "
    "println elif lambda async await struct impl fn func #include #define console self nullptr "
    "null none true false foreach endl std namespace typedef malloc yield throws try catch except "
    "raise println! cout cin args kwargs __init__ main() usize i32 u64 select from where"
).split()
#: Programming languages, tools and topics, in the eight languages of the seed set.
CODE_TOPIC = (
    "python javascript typescript java golang rust kotlin swift php ruby scala perl haskell sql "
    "html css bash shell powershell regex json yaml xml api rest graphql react vue angular django "
    "flask fastapi pandas numpy pytorch tensorflow docker kubernetes git linux npm pip cpp c# "
    "code coding program programming script function functions method algorithm algorithms array "
    "arrays string strings implement implementation compile compiler bug debug runtime complexity "
    "leetcode linked list binary recursion recursive variable loop stdin stdout snippet class "
    "database query endpoint backend frontend refactor unittest pytest dataframe substring "
    "palindrome stack queue hashmap dictionary node nodes tree sorting sort bubble href dom "
    "código programa función funciones algoritmo programación funktion programm algorithmus "
    "fonction programme algorithme код программа программу функция функцию функции алгоритм "
    "代码 函数 程序 编程 算法 数组 字符 コード 関数 プログラム 配列 코드 함수 프로그램 알고리즘 배열"
).split()
#: Words of mathematics and quantitative problems.
MATH_TOPIC = (
    "solve equation equations compute calculate find prove probability integer integers sum "
    "product remainder divisible prime primes triangle circle polynomial area perimeter real "
    "value digits digit ratio percent fraction sequence derivative integral matrix vector angle "
    "radius many much total minimum maximum greatest least positive negative number numbers "
    "expression simplify evaluate factor modulo geometric arithmetic square cube root roots "
    "resuelve ecuación calcula probabilidad números berechne gleichung wahrscheinlichkeit zahl "
    "calculez équation probabilité nombre решите уравнение вероятность найдите вычислите число "
    "求 计算 方程 概率 证明 面积 整数 計算 方程式 確率 証明 面積 방정식 계산 확률 증명 넓이"
).split()
_LEXICON = Lexicon({"syntax": CODE_SYNTAX, "code": CODE_TOPIC, "math": MATH_TOPIC})
_CODE_SYMBOL, _MATH_SYMBOL = 1, 2


def _symbol_table() -> np.ndarray:
    """Flags per BMP code point: ``_CODE_SYMBOL`` for ``{}();=<>[]_``, ``_MATH_SYMBOL`` for digits and ``$^\\+-*/=<>``."""
    table = np.zeros(0x10000, dtype=np.uint8)
    for c in "{}();=<>[]_":
        table[ord(c)] |= _CODE_SYMBOL
    for c in "$^\\+-*/=<>0123456789":
        table[ord(c)] |= _MATH_SYMBOL
    table.flags.writeable = False
    return table


_SYMBOLS = _symbol_table()

HEAD_CHARS = 400
TAIL_CHARS = 150
CODE_THRESHOLD = 3.0
MATH_THRESHOLD = 3.0


def text_scores(prompt: pa.Array, response_text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(code_score, math_score)`` per row from prompt (and response) text.

    code: 3 per code fence in the prompt (up to 2), 3 for a fence in the
    response, 0.5 per code-syntax word (up to 8), 1 per programming word (up
    to 4), and up to 3 for the density of ``{}();=<>[]_``.
    math: 1.5 per ``$`` pair or LaTeX command (up to 4), 1 per math word (up
    to 4), 0.5 per number (up to 4), and up to 3 for the density of digits
    and ``^\\+-*/=<>``.

    The prompt's terms are computed once per distinct prompt (prompts repeat: a template's, a rerun's) and
    added per row in the order above, so the sums are those of one row at a time to the last bit.
    """
    prompts, at = unique_index(as_text(prompt))
    fences, syntax, topic, code_sym, dollars_latex, math_words, numbers, math_sym = (
        term[at] for term in _prompt_terms(decode(pc.utf8_lower(head_tail(prompts, HEAD_CHARS, TAIL_CHARS))))
    )
    resp_fence = pc.match_substring(as_text(response_text), "```").to_numpy(zero_copy_only=False)
    code = 3.0 * fences + 3.0 * resp_fence.astype(np.float64) + syntax + topic + code_sym
    math = dollars_latex + math_words + numbers + math_sym
    return code, math


def _prompt_terms(text: CodePoints) -> tuple[np.ndarray, ...]:
    """The prompt's terms of :func:`text_scores` per row of ``text`` (lower-cased and cut): the code fences
    (up to 2), the code-syntax and programming words, the code symbols' density, then the math terms."""
    n = text.n_rows
    cp = text.cp
    backtick = cp == 0x60
    fence_start = np.zeros(len(cp), dtype=bool)
    if len(cp) > 2:
        fence_start[:-2] = backtick[:-2] & backtick[1:-1] & backtick[2:]
        fence_start &= np.arange(len(cp)) + 2 < np.repeat(text.starts[1:], text.lengths)  # all three in its row
    fences = row_sums(fence_start, text.starts).astype(np.float64)
    dollars = row_sums(cp == 0x24, text.starts).astype(np.float64)
    tokens = tokenize(text, cjk_bigrams=True)
    hits = _LEXICON.counts(tokens, n).astype(np.float64)
    latex = np.zeros(n)
    numbers = np.zeros(n)
    if len(tokens):
        first_cp = cp[tokens.start]
        latex = np.bincount(tokens.row, weights=(first_cp == 0x5C), minlength=n)
        numbers = np.bincount(tokens.row, weights=(first_cp >= 0x30) & (first_cp <= 0x39), minlength=n)
    length = np.maximum(text.lengths, 1).astype(np.float64)
    sym = _SYMBOLS[np.minimum(cp, 0xFFFF)]  # beyond the BMP: 0xFFFF, no flags
    code_sym = row_sums(sym & _CODE_SYMBOL, text.starts) / length
    math_sym = row_sums((sym & _MATH_SYMBOL) >> 1, text.starts) / length
    return (
        np.minimum(fences // 2 + fences % 2, 2),
        0.5 * np.minimum(hits[:, 0], 8),
        1.0 * np.minimum(hits[:, 1], 4),
        np.clip((code_sym - 0.02) * 60, 0, 3),
        1.5 * np.minimum(dollars // 2 + latex, 4),
        1.0 * np.minimum(hits[:, 2], 4),
        0.5 * np.minimum(numbers, 4),
        np.clip((math_sym - 0.01) * 40, 0, 3),
    )


@dataclass(frozen=True)
class CapabilitySignal(Signal):
    """The capability an exchange targets, one of ``core.schema.CAPABILITIES``.

    Rules, first match wins:

    1. ``agentic`` — tools are offered and the request carries tool results
       (a multi-step tool loop);
    2. ``tool_use`` — tools are offered, or the response calls tools;
    3. ``coding`` — code score ≥ 3 and ≥ the math score;
    4. ``reasoning`` — math score ≥ 3 (math, quantitative word problems);
    5. ``general``.

    The scores come from the prompt text (code fences, code syntax and
    programming words, symbol densities, LaTeX, math words, digits; see
    :func:`text_scores`) and code fences in the response.
    """

    name: str = "capability"
    dtype: pa.DataType = pa.string()

    def __call__(self, batch: Batch, ctx: BatchContext | None = None) -> pa.Array:
        n = batch.num_rows
        n_tools = pc.list_value_length(column(batch, "tool_names")).to_numpy(zero_copy_only=False)
        n_tools = np.nan_to_num(n_tools.astype(np.float64))
        n_results = np.nan_to_num(
            column(batch, "n_tool_results").cast(pa.float64()).to_numpy(zero_copy_only=False)
        )
        n_calls = np.nan_to_num(
            column(batch, "n_tool_calls").cast(pa.float64()).to_numpy(zero_copy_only=False)
        )
        code, math = text_scores(text_column(batch, "prompt"), text_column(batch, "response_text"))
        out = np.full(n, CAPABILITIES.index("general"), dtype=np.int64)
        conds = [
            ("agentic", (n_tools > 0) & (n_results > 0)),
            ("tool_use", (n_tools > 0) | (n_calls > 0)),
            ("coding", (code >= CODE_THRESHOLD) & (code >= math)),
            ("reasoning", math >= MATH_THRESHOLD),
        ]
        decided = np.zeros(n, dtype=bool)
        for cap, cond in conds:
            take = cond & ~decided
            out[take] = CAPABILITIES.index(cap)
            decided |= take
        names = pa.array(list(CAPABILITIES), type=pa.string())
        return names.take(pa.array(out))
