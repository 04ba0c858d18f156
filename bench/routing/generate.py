"""Dev-set items of every prompt kind, generated from a seed.

Each item is a conversation (``turns``: alternating user/assistant texts,
the last one the user's) and, where the answer can be checked, a ``check``
that says how (see label.py); mcq and fact items (and multi-turn items that
end with one) also carry ``trials``: the same question with its options
rotated, or in other phrasings, each asked of the model to label the item
(the item's own turns are one of them; routing sees only the item). Items without a check carry a ``label`` made
by construction, and ``label_source`` says so. Nothing here downloads.
"""

from __future__ import annotations

import random
from typing import Any

from .facts import CAPITALS, ELEMENTS, GENERAL

Item = dict[str, Any]
LETTERS = "ABCD"


def _math(rng: random.Random) -> tuple[str, int]:
    """A word problem and its integer answer; 1 to 4 steps, small to large numbers."""
    big = rng.random() < 0.5
    n = (lambda: rng.randint(12, 480)) if big else (lambda: rng.randint(2, 9))
    name = rng.choice(["Tom", "Ana", "Li", "Priya", "Omar", "Sara", "Jonas", "Mei"])
    thing = rng.choice(["apples", "pencils", "stickers", "marbles", "books", "coins"])
    form = rng.randrange(9)
    if form == 0:
        a, b = n(), n()
        return (
            f"{name} has {a} {thing}. {name} gets {b} more. How many {thing} does {name} have now?",
            a + b,
        )
    if form == 1:
        a, b = n(), n()
        a, b = max(a, b) + 1, min(a, b)
        return f"{name} had {a} {thing} and gave {b} away. How many {thing} are left?", a - b
    if form == 2:
        a, b = n(), rng.randint(2, 9)
        return f"A box holds {a} {thing}. How many {thing} are in {b} boxes?", a * b
    if form == 3:
        k, b = n(), rng.randint(2, 9)
        return (
            f"{k * b} {thing} are shared equally among {b} children. How many does each child get?",
            k,
        )
    if form == 4:
        a, b, c = n(), n(), n()
        total = a + b + c + rng.randint(1, 50)
        return (
            f"{name} had {total} dollars, spent {a} dollars on a book, {b} dollars on lunch "
            f"and {c} dollars on a ticket. How many dollars are left?",
            total - a - b - c,
        )
    if form == 5:
        price, count = rng.randint(2, 19), rng.randint(2, 12)
        bill = price * count + rng.randint(1, 40)
        return (
            f"Pens cost {price} dollars each. {name} buys {count} pens and pays with {bill} dollars. "
            "How much change does {name} get, in dollars?".replace("{name}", name),
            bill - price * count,
        )
    if form == 6:
        price = rng.randint(2, 40) * 10
        off = rng.choice([10, 20, 25, 50])
        return (
            f"A jacket costs {price} dollars and is {off}% off. What is the sale price in dollars?",
            price * (100 - off) // 100,
        )
    if form == 7:
        s1, h1, s2, h2 = (
            rng.randint(30, 90),
            rng.randint(1, 5),
            rng.randint(30, 90),
            rng.randint(1, 5),
        )
        return (
            f"A train travels at {s1} km/h for {h1} hours, then at {s2} km/h for {h2} hours. "
            "How many kilometres does it travel in total?",
            s1 * h1 + s2 * h2,
        )
    rows, cols, missing = rng.randint(3, 12), rng.randint(3, 12), rng.randint(1, 9)
    return (
        f"A garden has {rows} rows of {cols} tulips. {missing} tulips were eaten by rabbits. "
        "How many tulips are left?",
        rows * cols - missing,
    )


def _math_items(rng: random.Random, count: int) -> list[Item]:
    items = []
    for i in range(count):
        question, answer = _math(rng)
        ask = rng.choice(["", " Answer with the number.", " Think step by step."])
        items.append(
            {
                "id": f"math-{i}",
                "kind": "math",
                "turns": [question + ask],
                "check": {"type": "number", "answer": answer},
            }
        )
    return items


# One-step arithmetic in plain words with numbers under 20: what a 135M
# model can plausibly get right, so math has easy items as well as hard ones.
# Generated from their own seed (``generate``): the original items and their
# cached answers stay as they were.
SIMPLE_MATH = [
    ("What is {a} + {b}?", lambda a, b: a + b),
    ("What is {a} plus {b}?", lambda a, b: a + b),
    ("Add {a} and {b}.", lambda a, b: a + b),
    ("What is {big} - {b}?", lambda a, b: a),
    ("What is {a} times {b}?", lambda a, b: a * b),
    (
        "{name} has {a} {thing}. {name} gets {b} more. How many {thing} does {name} have?",
        lambda a, b: a + b,
    ),
    (
        "There are {a} birds on a tree and {b} more land on it. How many birds are on the tree?",
        lambda a, b: a + b,
    ),
    (
        "{name} had {big} {thing} and lost {b}. How many {thing} does {name} have now?",
        lambda a, b: a,
    ),
    (
        "A bag has {a} red balls and {b} blue balls. How many balls are in the bag?",
        lambda a, b: a + b,
    ),
    ("What is double {a}?", lambda a, b: 2 * a),
]


SIMPLE_MATH_COUNT = 240


def _simple_math_items(rng: random.Random, count: int) -> list[Item]:
    items = []
    for i in range(count):
        form, answer_of = SIMPLE_MATH[i % len(SIMPLE_MATH)]
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        name = rng.choice(["Tom", "Ana", "Li", "Sam", "Mia", "Ben"])
        thing = rng.choice(["apples", "pens", "cards", "shells"])
        question = form.format(a=a, b=b, big=a + b, name=name, thing=thing)
        ask = rng.choice(["", " Answer with the number."])
        items.append(
            {
                "id": f"math-simple-{i}",
                "kind": "math",
                "turns": [question + ask],
                "check": {"type": "number", "answer": answer_of(a, b)},
            }
        )
    return items


def _options(rng: random.Random, right: str, wrong: list[str]) -> tuple[str, str]:
    choices = [right, *wrong[:3]]
    rng.shuffle(choices)
    letter = LETTERS[choices.index(right)]
    return "\n".join(f"{LETTERS[i]}) {c}" for i, c in enumerate(choices)), letter


def _option_texts(options: str) -> list[str]:
    return [line[3:] for line in options.splitlines()]


def _mcq_turn(question: str, choices: list[str]) -> str:
    options = "\n".join(f"{LETTERS[i]}) {c}" for i, c in enumerate(choices))
    return f"{question}\n{options}\nAnswer with the letter of the correct option."


def _rotations(question: str, choices: list[str], letter: str) -> list[Item]:
    """The same question with its options rotated so that the right one is at
    A, B, C and D in turn (the item's own order is one of them): how an mcq
    item is labelled, since the small model favours a letter (see label.py)."""
    right = LETTERS.index(letter)
    out = []
    for at in range(len(choices)):
        shift = at - right
        rotated = [choices[(k - shift) % len(choices)] for k in range(len(choices))]
        out.append(
            {
                "turns": [_mcq_turn(question, rotated)],
                "check": {"type": "letter", "answer": LETTERS[at], "options": rotated},
            }
        )
    return out


def _mcq_items(rng: random.Random) -> list[Item]:
    items: list[tuple[str, str, str, str]] = []
    countries = list(CAPITALS)
    for country in countries:
        wrong = rng.sample([CAPITALS[c] for c in countries if c != country], 3)
        options, letter = _options(rng, CAPITALS[country], wrong)
        items.append((f"What is the capital of {country}?", options, letter, f"cap:{country}"))
    elements = list(ELEMENTS)
    for element in elements:
        wrong = rng.sample([ELEMENTS[e] for e in elements if e != element], 3)
        options, letter = _options(rng, ELEMENTS[element], wrong)
        items.append(
            (f"What is the chemical symbol for {element}?", options, letter, f"el:{element}")
        )
    for question, right, wrong_ in GENERAL:
        options, letter = _options(rng, right, list(wrong_))
        items.append((question, options, letter, f"gen:{question}"))
    out = []
    for i, (question, options, letter, group) in enumerate(items):
        choices = _option_texts(options)
        out.append(
            {
                "id": f"mcq-{i}",
                "group": group,
                "kind": "mcq",
                "turns": [_mcq_turn(question, choices)],
                "check": {"type": "letter", "answer": letter, "options": choices},
                "trials": _rotations(question, choices, letter),
            }
        )
    return out


# Three phrasings per kind of fact (general templates, not per item): a fact
# item is asked in all three, and labelled by the majority (see label.py).
# The capitals' list is also what picks an item's own phrasing (in this order).
CAPITAL_PHRASINGS = [
    "What is the capital of {c}?",
    "Name the capital city of {c}.",
    "{c}'s capital is which city?",
]
ELEMENT_PHRASINGS = [
    "Which element has the chemical symbol {c}?",
    "Name the chemical element whose symbol is {c}.",
    "The chemical symbol {c} stands for which element?",
]
GENERAL_PHRASINGS = ["{c}", "Please answer this question: {c}", "Quick question. {c}"]


def _phrased(phrasings: list[str], subject: str, check: dict[str, Any]) -> list[Item]:
    return [{"turns": [p.format(c=subject)], "check": check} for p in phrasings]


def _fact_items(rng: random.Random) -> list[Item]:
    out = []
    for i, (country, capital) in enumerate(CAPITALS.items()):
        phrasing = rng.choice(CAPITAL_PHRASINGS)
        check = {"type": "contains", "answer": [capital]}
        out.append(
            {
                "id": f"fact-cap-{i}",
                "group": f"cap:{country}",
                "kind": "fact",
                "turns": [phrasing.format(c=country)],
                "check": check,
                "trials": _phrased(CAPITAL_PHRASINGS, country, check),
            }
        )
    for i, (element, symbol) in enumerate(ELEMENTS.items()):
        check = {"type": "contains", "answer": [element]}
        out.append(
            {
                "id": f"fact-el-{i}",
                "group": f"el:{element}",
                "kind": "fact",
                "turns": [ELEMENT_PHRASINGS[0].format(c=symbol)],
                "check": check,
                "trials": _phrased(ELEMENT_PHRASINGS, symbol, check),
            }
        )
    for i, (question, right, _) in enumerate(GENERAL):
        check = {"type": "contains", "answer": [right.split()[-1]]}
        out.append(
            {
                "id": f"fact-gen-{i}",
                "group": f"gen:{question}",
                "kind": "fact",
                "turns": [question],
                "check": check,
                "trials": _phrased(GENERAL_PHRASINGS, question, check),
            }
        )
    return out


# (function name, task wording, test expression list)
CODE_TASKS: list[tuple[str, str, list[str]]] = [
    ("add", "returns the sum of two numbers a and b", ["add(2, 3) == 5", "add(-1, 1) == 0"]),
    (
        "is_even",
        "returns True if an integer n is even, otherwise False",
        ["is_even(4)", "not is_even(7)"],
    ),
    ("square", "returns the square of a number x", ["square(3) == 9", "square(-2) == 4"]),
    (
        "reverse_string",
        "returns the string s reversed",
        ["reverse_string('abc') == 'cba'", "reverse_string('') == ''"],
    ),
    (
        "largest",
        "returns the largest number in a non-empty list",
        ["largest([3, 9, 2]) == 9", "largest([-5, -2]) == -2"],
    ),
    (
        "count_vowels",
        "counts the vowels (a, e, i, o, u, any case) in a string",
        ["count_vowels('Hello') == 2", "count_vowels('xyz') == 0"],
    ),
    (
        "factorial",
        "returns n! for a non-negative integer n",
        ["factorial(0) == 1", "factorial(5) == 120"],
    ),
    (
        "fibonacci",
        "returns the n-th Fibonacci number, with fibonacci(0) == 0 and fibonacci(1) == 1",
        ["fibonacci(10) == 55", "fibonacci(1) == 1"],
    ),
    (
        "is_palindrome",
        "returns True if a string reads the same backwards, ignoring case and spaces",
        ["is_palindrome('Never odd or even')", "not is_palindrome('abc')"],
    ),
    (
        "fizzbuzz",
        "returns a list of strings for 1..n where multiples of 3 are 'Fizz', of 5 'Buzz', of both 'FizzBuzz', others the number as a string",
        ["fizzbuzz(5) == ['1', '2', 'Fizz', '4', 'Buzz']", "fizzbuzz(15)[-1] == 'FizzBuzz'"],
    ),
    (
        "flatten",
        "flattens an arbitrarily nested list of integers into a flat list",
        ["flatten([1, [2, [3, 4]], 5]) == [1, 2, 3, 4, 5]", "flatten([]) == []"],
    ),
    (
        "merge_sorted",
        "merges two sorted lists into one sorted list without calling sort",
        ["merge_sorted([1, 4], [2, 3, 5]) == [1, 2, 3, 4, 5]", "merge_sorted([], [1]) == [1]"],
    ),
    (
        "to_roman",
        "converts an integer from 1 to 3999 to a Roman numeral",
        ["to_roman(1994) == 'MCMXCIV'", "to_roman(4) == 'IV'"],
    ),
    (
        "common_prefix",
        "returns the longest common prefix of a list of strings",
        ["common_prefix(['flower', 'flow', 'flight']) == 'fl'", "common_prefix(['a', 'b']) == ''"],
    ),
    (
        "binary_search",
        "returns the index of target in a sorted list, or -1 if absent",
        ["binary_search([1, 3, 5, 7], 5) == 2", "binary_search([1, 3], 4) == -1"],
    ),
    (
        "run_length",
        "run-length encodes a string, e.g. 'aaab' becomes 'a3b1'",
        ["run_length('aaab') == 'a3b1'", "run_length('') == ''"],
    ),
    (
        "balanced",
        "returns True if the brackets ()[]{} in a string are balanced",
        ["balanced('([]{})')", "not balanced('(]')"],
    ),
    (
        "transpose",
        "transposes a matrix given as a list of rows",
        [
            "transpose([[1, 2], [3, 4]]) == [[1, 3], [2, 4]]",
            "transpose([[1, 2, 3]]) == [[1], [2], [3]]",
        ],
    ),
    (
        "primes_up_to",
        "returns all prime numbers up to and including n",
        ["primes_up_to(10) == [2, 3, 5, 7]", "primes_up_to(1) == []"],
    ),
    (
        "top_words",
        "returns the k most frequent words of a text as a list, ties broken alphabetically",
        ["top_words('b a b c a b', 2) == ['b', 'a']", "top_words('x', 1) == ['x']"],
    ),
    (
        "parse_duration",
        "parses strings like '1h30m' or '45s' into a number of seconds",
        ["parse_duration('1h30m') == 5400", "parse_duration('45s') == 45"],
    ),
    (
        "rotate",
        "rotates a list to the right by k positions",
        ["rotate([1, 2, 3, 4], 1) == [4, 1, 2, 3]", "rotate([1, 2], 4) == [1, 2]"],
    ),
    (
        "second_largest",
        "returns the second largest distinct value in a list, or None",
        ["second_largest([4, 1, 4, 3]) == 3", "second_largest([2, 2]) is None"],
    ),
    (
        "camel_to_snake",
        "converts a camelCase identifier to snake_case",
        ["camel_to_snake('myVarName') == 'my_var_name'", "camel_to_snake('x') == 'x'"],
    ),
    (
        "gcd",
        "returns the greatest common divisor of two positive integers",
        ["gcd(12, 18) == 6", "gcd(7, 5) == 1"],
    ),
]


def _code_items(rng: random.Random) -> list[Item]:
    out = []
    phrasings = [
        "Write a Python function `{name}` that {task}.",
        "In Python, implement {name}(...): it {task}. Reply with the code.",
        "I need a python function called {name} which {task}. Please write it.",
    ]
    for i, (name, task, tests) in enumerate(CODE_TASKS):
        for j, phrasing in enumerate(rng.sample(phrasings, 2)):
            out.append(
                {
                    "id": f"code-{i}-{j}",
                    "group": f"code:{name}",
                    "kind": "code",
                    "turns": [phrasing.format(name=name, task=task)],
                    "check": {"type": "python", "function": name, "tests": tests},
                }
            )
    return out


CHAT = [
    "Hi! How are you today?",
    "Good morning :)",
    "Thanks a lot, that helped.",
    "Tell me a joke.",
    "What's your favourite colour?",
    "hey, what's up?",
    "Can you say something nice to cheer me up?",
    "I'm bored. Any ideas for this evening?",
    "Say hello to my friend Sam!",
    "What a lovely day. Do you like sunny weather?",
    "Recommend a snack for a movie night.",
    "Happy Friday!",
    "Do you have a name?",
    "I just got a puppy!",
    "What should I call my new goldfish?",
    "Give me a fun fact.",
    "ok bye",
    "lol that's funny",
    "Can you help me?",
    "Wish me luck for my exam tomorrow.",
]
CHAT_HARD = [
    "Write a sonnet in strict iambic pentameter about my cat, with the rhyme scheme ABAB CDCD EFEF GG.",
    "Tell me a joke that is a palindrome and also a haiku.",
    "Reply only with a 12-word sentence where every word starts with the letter S.",
    "Write a limerick about databases where the last line is a valid SQL query.",
    "Let's play chess: I open 1. e4. Play as Black and explain the theory behind your reply.",
    "Write a short poem in French and then translate it into German, keeping the rhyme.",
]


def _chat_items(rng: random.Random) -> list[Item]:
    out = []
    for i, text in enumerate(CHAT):
        for j, variant in enumerate({text, text.lower().rstrip("!.?"), text + " 😊"}):
            out.append(
                {
                    "id": f"chat-{i}-{j}",
                    "group": f"chat:{i}",
                    "kind": "chat",
                    "turns": [variant],
                    "label": 0,
                    "label_source": "construction: small talk, any fluent reply is acceptable",
                }
            )
    for i, text in enumerate(CHAT_HARD):
        out.append(
            {
                "id": f"chat-hard-{i}",
                "kind": "chat",
                "turns": [text],
                "label": 1,
                "label_source": "construction: hard formal constraints a 135M model does not meet",
            }
        )
    return out


# Formal constraints (metre, rhyme, letters, counts, palindromes…) that a
# 135M model does not meet: hard by construction, like CHAT_HARD, each form
# on a few everyday topics. Short and long ones alike: what makes them hard
# is the constraint, not the length.
CHAT_CONSTRAINED = [
    "Write a haiku about {t} with exactly 5, 7 and 5 syllables, every line starting with B.",
    "Describe {t} in exactly nine words.",
    "Write an acrostic poem about {t} whose first letters spell OCEAN.",
    "Tell me about {t} without using the letter e.",
    "Write a sentence about {t} that is a palindrome.",
    "Write a limerick about {t}.",
    "Give me three rhyming couplets about {t}, each line exactly eight syllables.",
    "Describe {t} using only words of one syllable, in exactly four sentences.",
    "Write a villanelle about {t}.",
    "Write a tweet about {t} of exactly 140 characters, counting spaces.",
    "Describe {t} alphabetically: the first word starts with A, the second with B, and so on to Z.",
    "Write a six-word story about {t} where each word is longer than the one before.",
    "Write a pangram about {t}: one sentence that uses every letter of the alphabet.",
    "Two lines about {t}, please, where every word rhymes with 'cat'.",
    "Reply about {t} in capital letters only, five lines of exactly three words each.",
    "Write a tautogram about {t}: every word must begin with the letter T.",
    "A poem about {t}: the first line one word, each next line one word more, up to seven.",
    "Describe {t} in a sentence whose word lengths follow the digits of pi: 3, 1, 4, 1, 5, 9.",
    "Write a clerihew about {t}, then translate it into Spanish keeping the rhyme.",
    "Give me a cryptic crossword clue for {t}, with the answer and its letter count.",
    "Write a double dactyl about {t}.",
    "Write a sentence about {t} in which the letters of every word are in alphabetical order.",
    "Say something nice about {t} as a lipogram without the letters a and o.",
    "Write a ghazal about {t}, with the same closing word on every couplet.",
]
CHAT_TOPICS = [
    "my cat",
    "the rain",
    "Monday mornings",
    "coffee",
    "the sea",
    "my birthday",
    "the moon",
]
# Small talk of a few sentences: chit-chat is not always one line.
CHAT_LONG = [
    "I just got back from a really long walk by the river and the sun was out the whole time. Feeling good!",
    "My sister is visiting this weekend and we're planning to bake cookies together. Do you have a favourite kind?",
    "Ugh, today was so long. Work was busy and the bus was late twice. How was your day?",
    "We finally finished painting the living room yesterday, it's a light green now and I love it.",
    "Just wanted to say thanks for chatting with me earlier, it really cheered me up after a rough morning.",
    "I'm sitting on the balcony with a cup of tea watching the birds. It's so peaceful here in the evening.",
    "My kid lost his first tooth today and he's super excited about the tooth fairy coming tonight!",
    "Do you ever think about how nice it is when the first snow falls and everything goes quiet?",
    "Our team won the match last night! It was so close, we scored in the very last minute.",
    "I tried a new pancake recipe this morning and for once they came out fluffy. Small victories!",
    "Good night! Talk tomorrow, I'm going to read a bit and then go to sleep.",
    "I'm nervous about my first day at the new job tomorrow, but I'm also really looking forward to it.",
]


def _chat_more_items(rng: random.Random) -> list[Item]:
    out = []
    for i, form in enumerate(CHAT_CONSTRAINED):
        for j, topic in enumerate(rng.sample(CHAT_TOPICS, 3)):
            out.append(
                {
                    "id": f"chat-form-{i}-{j}",
                    "group": f"chat-form:{i}",
                    "kind": "chat",
                    "turns": [form.format(t=topic)],
                    "label": 1,
                    "label_source": "construction: hard formal constraints a 135M model does not meet",
                }
            )
    for i, text in enumerate(CHAT_LONG):
        for j, variant in enumerate([text, text.lower()]):
            out.append(
                {
                    "id": f"chat-long-{i}-{j}",
                    "group": f"chat-long:{i}",
                    "kind": "chat",
                    "turns": [variant],
                    "label": 0,
                    "label_source": "construction: small talk, any fluent reply is acceptable",
                }
            )
    return out


SUBJECTS = [
    "moving our monolith to microservices",
    "a four-day work week at a 40-person agency",
    "switching our data warehouse from nightly batch loads to streaming",
    "raising prices by 15% for existing customers",
    "opening a second office in another time zone",
    "replacing on-call rotations with a follow-the-sun support team",
    "adopting a carbon tax in a small open economy",
    "using PostgreSQL instead of MongoDB for an event store",
    "remote-first hiring for a hardware start-up",
    "rewriting a legacy COBOL payroll system",
    "introducing usage-based pricing for our API",
    "central bank digital currencies",
]
HARD_ASKS = [
    "Analyse the trade-offs of {s}, compare at least three alternatives, and recommend one with a migration plan and the risks of each step.",
    "Write a detailed memo on {s}: the second-order effects, who wins and who loses, and which metrics would tell us within six months whether it worked.",
    "Critique the following proposal as a sceptical board member would, then steelman it: {s}. Structure the answer with headings.",
    "Design an experiment to evaluate {s}. Specify the hypothesis, the control group, the sample size reasoning and the threats to validity.",
    "Write a function to support {s}, explain how to test it, list the edge cases, and analyse its time complexity.",
]
EASY_ASKS = [
    "In one sentence, what is {s}?",
    "Give me a catchy title for a talk about {s}.",
    "Is {s} a popular topic these days? Just yes or no.",
    "Suggest one word that describes {s}.",
]


def _analysis_items(rng: random.Random) -> list[Item]:
    out = []
    for i, subject in enumerate(SUBJECTS):
        for j, ask in enumerate(rng.sample(HARD_ASKS, 3)):
            out.append(
                {
                    "id": f"analysis-{i}-h{j}",
                    "group": f"analysis:{i}",
                    "kind": "analysis",
                    "turns": [ask.format(s=subject)],
                    "label": 1,
                    "label_source": "construction: multi-part analysis a 135M model cannot do",
                }
            )
        for j, ask in enumerate(rng.sample(EASY_ASKS, 2)):
            out.append(
                {
                    "id": f"analysis-{i}-e{j}",
                    "group": f"analysis:{i}",
                    "kind": "analysis",
                    "turns": [ask.format(s=subject)],
                    "label": 0,
                    "label_source": "construction: one short opinion or name, any fluent reply is acceptable",
                }
            )
    return out


def _multiturn_items(rng: random.Random, checked: list[Item]) -> list[Item]:
    """Small talk first, then a checkable question as the last turn."""
    openers = [
        ("Hi there!", "Hello! How can I help you today?"),
        ("I'm studying for a quiz.", "Great, I'm happy to help you practise."),
        ("Can you help me with some homework?", "Of course. What is the question?"),
        ("Good evening.", "Good evening! What would you like to talk about?"),
    ]
    out = []
    for i, item in enumerate(rng.sample(checked, 90)):
        turns: list[str] = []
        for _ in range(rng.randint(1, 2)):
            user, assistant = rng.choice(openers)
            turns += [user, assistant]
        row: Item = {
            "id": f"multi-{i}",
            "group": item.get("group", item["id"]),
            "kind": "multiturn",
            "turns": [*turns, item["turns"][-1]],
            "check": item["check"],
        }
        if "trials" in item:  # the same small talk before each of the question's trials
            row["trials"] = [
                {"turns": [*turns, t["turns"][-1]], "check": t["check"]} for t in item["trials"]
            ]
        out.append(row)
    return out


def generate(seed: int = 12) -> list[Item]:
    rng = random.Random(seed)
    math = _math_items(rng, 220)
    mcq = _mcq_items(rng)
    fact = _fact_items(rng)
    code = _code_items(rng)
    checked = math + mcq + fact
    return [
        *math,
        *mcq,
        *fact,
        *code,
        *_chat_items(rng),
        *_analysis_items(rng),
        *_multiturn_items(rng, checked),
        # Added later, from their own seed: the items above do not move.
        *_simple_math_items(random.Random(f"{seed}-simple-math"), SIMPLE_MATH_COUNT),
        *_chat_more_items(random.Random(f"{seed}-chat")),
    ]
