"""Which parts of a text the NER model reads.

The model costs about 0.12 ms of CPU per word piece (the six layers' derived
int8 graph; the student that runs by default about 40 % less, the shipped
graph twice as much), so reading a whole 4 KB prompt (about 900 pieces)
takes 60 to 110 ms of CPU. Names in
running text are nearly always capitalised, so the model only reads short
windows around *candidate* words — a capital letter where a sentence does
not force one, or a word that is no common sentence opener where it does —
each with its sentence (up to ten words either side), which the model needs
to tell "Jordan" the person from Jordan the country. A model finding counts
only if it holds a candidate (``Gate.admits``). Words that look like code
(``useState``, ``User.objects``, ``os.Path``), acronyms, words glued to digits
and the words of URLs and e-mail addresses are no candidates, which also
keeps the model away from the identifiers it used to read as names.

A short text with no capital letter and no code punctuation ("i told jessica
brown about it") is a casual message: it is read whole.
"""

from __future__ import annotations

import bisect
import re

Span = tuple[int, int]

# At most, either side of a candidate, within its sentence. Four words read as
# many names on the privacy set and cost a fifth less on chat, but lost "Olga
# Ivanova" in "My neighbour Olga Ivanova keeps parking in front of my garage."
# (six too): the model wants the sentence's end. Decision 0005, third round.
CONTEXT_WORDS = 10
MAX_CONTEXT_CHARS = 80  # at most, either side: a CSV row or minified JSON has no blanks
LOWERCASE_WHOLE = 2_000  # longest casual message (see _casual), read whole

# Upper-case letters of the cased scripts the model was trained on (Latin)
# and of the others it reads letter by letter (Greek, Cyrillic), from the
# Unicode database rather than by hand.
_UPPER = "".join(
    ch
    for lo, hi in ((0x41, 0x5B), (0xC0, 0x250), (0x370, 0x530), (0x1E00, 0x1F00))
    for ch in map(chr, range(lo, hi))
    if ch.isupper()
)
_CLASS = re.escape(_UPPER)
# A capitalised word, with its inner apostrophes and hyphens ("O'Neil",
# "Jean-Luc"); starting where no letter or digit precedes it.
_CANDIDATE = re.compile(rf"(?<![^\W_])[{_CLASS}][^\W\d_]*(?:['\u2019\-][^\W\d_]+)*")
_CHUNK = re.compile(r"\S+")
_TOKEN_EDGES = frozenset(" \t\r\n,;\"'()<>[]{}|")  # around a URL or an e-mail address
# Arabic, Devanagari, kana, CJK ideographs, Hangul syllables.
_CASELESS_RUN = re.compile(
    "[\u0600-\u06ff\u0900-\u097f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+"
)
_CAMEL = re.compile(rf"[^\W\d_{_CLASS}][{_CLASS}]")
_NAME_PREFIX = re.compile(rf"(?:Mc|Mac|De|Di|Da|La|Le|Van|Von|Fitz)[{_CLASS}][^\W\d_{_CLASS}]+")
_CODE_BEFORE = frozenset("._$@#/\\<{[=`~_+%&^*:")
_UNIT_BEFORE = re.compile(r"[0-9][ \t]?$")
_CODE_AFTER = frozenset("(_=[{<`")
_CODE_PUNCTUATION = frozenset('{}[]<>=;_"\\/|`$#')
# A YAML or config line's lower-case key before the word; keys that name a
# person ("name:", "author:") are left to the rule tier and the model.
_YAML_KEY = re.compile(
    r"(?:^|\n)[ \t]*(?:- )?(?![\w.-]*(?:name|author|owner|contact|user|by|to|from|assignee))"
    r"[a-z][\w.-]*:[ \t]*[\"']?$"
)
_CALL = re.compile(r"\w\(|\w\.\w+\(|\)\.\w")  # "print(", "user.name(", ").x"
_SENTENCE_END = frozenset(".!?:;\n\r\"'\u201c\u2018*•-#>|})]")
# What follows a word at a sentence start; group 1 when it reads on as a
# sentence (a lower-case word, a number, a colon).
_FOLLOWING = re.compile(r"[ \t]*(?:[,!?]|['\u2019]s\b|$|\n|(..?))")

# Words that start sentences, lines and prompts without being names: English
# and the other six languages of the model, all lower-case. A candidate at a
# sentence start that is one of these is skipped; the model still reads it
# as context when a candidate is near ("Will Jensen said" → "Jensen").
_OPENERS = frozenset(
    """
    a an the this that these those it its i i'm i've i'll i'd me my mine we we're our us
    you you're your yours he his him she her hers they they're their them there here
    and or but so if when where why how what which who whom whose while because as
    since until unless although though then than also however therefore thus still yet
    just only even maybe perhaps please thanks thank thx hi hello hey dear good great
    yes no not none ok okay sure sorry well now today tomorrow yesterday tonight soon
    later first second third next last finally again before after during about above
    below all any both each every few many more most much some such other another own
    same new old is are was were be been being am do does did done doing have has had
    having can could will would shall should may might must need needs let lets let's
    make makes made write rewrite draft summarise summarize summary explain translate
    create generate give show tell ask list find fix use using add remove delete update
    check review compare convert describe help send forward reply answer see look note
    notes read run build test try keep set get put take call email mail ping remind
    invite meet meeting hope sounds looks seems attached attachment regarding re fwd fw
    subject question questions answer answers example examples step steps error errors
    warning info debug todo fixme important update urgent reminder following below
    in on at for to with from by of into onto over under between through per via without
    within upon against around near off out up down
    one two three four five six seven eight nine ten
    otherwise alternatively furthermore moreover additionally optionally initially
    conversely similarly consequently unfortunately fortunately basically actually
    honestly personally ideally specifically generally typically usually instead
    meanwhile nevertheless nonetheless overall anyway besides hence indeed likewise
    regardless returns return raise raises yields e.g i.e etc
    der die das den dem des ein eine einen einem einer ich du er es wir ihr sie mein
    meine dein unser euer bitte danke hallo guten liebe lieber sehr und oder aber wenn
    weil dass ist sind war waren hat haben kann können wird werden nicht kein keine
    auch noch schon heute morgen gestern hier dort wie was wer wo warum im am vom zum zur
    mit von für auf aus bei nach über unter gibt anbei
    le la les un une des du de je tu il elle nous vous ils elles mon ma mes ton ta notre
    votre leur bonjour salut merci cher chère madame monsieur et ou mais si quand parce
    que qui quoi est sont était avez avons peux pouvez pourriez voici voilà ce cette ces
    aujourd'hui demain hier dans sur pour avec sans chez
    el los las una uno unos unas yo él ella nosotros vosotros ellos ellas mi mis tu tus
    su sus nuestro hola buenos buenas gracias estimado estimada por favor y o pero
    porque cuando donde qué quién es son era está están hay puede puedes podría hoy
    mañana ayer en con sin para
    il lo gli io lei noi voi loro mio mia suo sua nostro ciao buongiorno grazie gentile
    caro cara e ma perché quando dove chi che è sono era può puoi oggi domani ieri
    nel nella con senza per
    o os um uma eu ele ela nós vós eles elas meu minha seu sua olá bom boa obrigado
    obrigada prezado prezada mas porque quando onde quem é são foi pode hoje amanhã
    ontem em com sem para
    het een ik jij je hij zij wij jullie mijn jouw zijn haar ons onze hallo goedemorgen
    dank bedankt beste geachte graag en of maar omdat wanneer waar wie wat is zijn was
    kan kunt vandaag morgen gisteren in op met zonder voor van naar bij
    """.split()
)
# Verbs that a person does: a word at a sentence start right before one of
# them stands like a subject ("Sharon said …", "Tomasz replied …"), so it
# is a candidate even alone (the model still decides whether it is a name).
_PERSON_VERBS = frozenset(
    """
    said says asked asks told tells wrote writes replied replies answered mentioned
    mentions emailed emails texted phoned called calls thinks thought believes
    wants wanted agreed agrees suggested suggests confirmed confirms explained
    promised noted reported joined signed approved declined prefers preferred
    sagte fragte schrieb meinte antwortete dit demande dijo preguntó
    escribió disse chiese scrisse zei vroeg schreef
    """.split()
)
_NEXT_WORD = re.compile(r"[ \t]+(\w+)")
# Capitalised mid-sentence without being a name.
_NEVER = frozenset(
    "I I'm I've I'll I'd Monday Tuesday Wednesday Thursday Friday Saturday Sunday "
    "January February March April June July August September October November December "
    "Mr Mrs Ms Mx Dr Prof Sir Madam "
    # programming and protocol words that are capitalised mid-sentence
    "None True False Null String Boolean Integer Object Config Main Authorization Bearer Basic "
    "Python Unix Linux Windows Unicode Docker Kubernetes".split()
)


class Gate:
    """What the model reads of one text (``windows``), and which of its
    findings count (``admits``): a name or a street holds a candidate word,
    so "numpy" or "runner 24" that the model tags in a build log's context
    do not."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.casual = _casual(text)
        self.candidates = [] if self.casual else candidates(text)
        self._starts = [start for start, _ in self.candidates]

    @property
    def windows(self) -> list[Span]:
        """Character spans: sorted, not overlapping, each a candidate word
        with its context, neighbours merged."""
        if self.casual:
            return [(0, min(len(self.text), LOWERCASE_WHOLE))]
        return _windows(self.text, self.candidates)

    def admits(self, span: Span) -> bool:
        if self.casual:
            return True
        at = bisect.bisect_left(self._starts, span[0])
        return at < len(self._starts) and self._starts[at] < span[1]


def _windows(text: str, words: list[Span]) -> list[Span]:
    chunks = [m.span() for m in _CHUNK.finditer(text)]
    ends = _Ends(text, chunks)
    merged: list[list[int]] = []
    index = 0
    for start, end in words:
        while chunks[index][1] <= start:
            index += 1  # the chunk (run of non-blanks) holding the candidate
        first, last = _sentence(ends, index)
        begin = _word_edge(text, max(chunks[first][0], start - MAX_CONTEXT_CHARS), -1)
        stop = _word_edge(text, min(chunks[last][1], end + MAX_CONTEXT_CHARS), +1)
        if merged and begin <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([begin, stop])
    return [(begin, stop) for begin, stop in merged]


class _Ends:
    """Whether a sentence or a line ends after chunk ``i`` (``ends[i]``),
    worked out once per chunk when first asked, not once per candidate that
    looks at it: a text of nothing but candidates costs one look per chunk."""

    def __init__(self, text: str, chunks: list[Span]) -> None:
        self.text, self.chunks = text, chunks
        self.known: list[bool | None] = [None] * len(chunks)

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, i: int) -> bool:
        known = self.known[i]
        if known is None:
            known = self.known[i] = _ends(self.text, self.chunks[i])
        return known


def _sentence(ends: _Ends, index: int) -> tuple[int, int]:
    """The chunks around chunk ``index`` that the model reads with it: its
    sentence, or as much of it as ``CONTEXT_WORDS`` either side allows
    (the model's reading of a name shifts with the words around it).
    ``ends[i]``: a sentence or line ends after chunk ``i``."""
    first = index
    while first > 0 and index - first < CONTEXT_WORDS and not ends[first - 1]:
        first -= 1
    last = index
    while last < len(ends) - 1 and last - index < CONTEXT_WORDS and not ends[last]:
        last += 1
    return first, last


def _ends(text: str, chunk: Span) -> bool:
    """Whether a sentence or a line ends after this chunk."""
    end = chunk[1]
    return text[end - 1] in ".!?" or text.startswith("\n", end) or end == len(text)


def _casual(text: str) -> bool:
    """A short message without a capital letter or code punctuation: "i told
    jessica brown about it". Read whole: the gate has nothing to go by."""
    return (
        len(text) <= LOWERCASE_WHOLE
        and not any(ch.isupper() for ch in text)
        and not any(ch in _CODE_PUNCTUATION for ch in text)
        and not _CALL.search(text)
        and any(ch.isalpha() for ch in text)
    )


def candidates(text: str) -> list[Span]:
    """Capitalised words that may be (part of) a name, and short runs of
    scripts without capitals (a Japanese name between Latin words), in order."""
    found = [
        match.span()
        for match in _CANDIDATE.finditer(text)
        if _is_candidate(text, *match.span(), match.group())
    ]
    if not text.isascii():
        found += [m.span() for m in _CASELESS_RUN.finditer(text) if m.end() - m.start() <= 4]
        found.sort()
    return found


def _is_candidate(text: str, start: int, end: int, word: str) -> bool:
    if len(word) < 2 or word in _NEVER or word.isupper():
        return False  # an initial, a pronoun, a weekday, an acronym ("API", "INFO")
    if _looks_like_code(text, start, end, word):
        return False
    if not _at_sentence_start(text, start):
        return True
    # A sentence opens with a capital whatever its first word is: there a
    # word counts only if it is no common opener and stands like a name —
    # before a comma, "'s", another capitalised word or the end ("Marco,
    # please …", "Anne's") or a verb a person does ("Sharon said"), not
    # before another lower-case word or a number ("Upgraded numpy", "Revenue
    # 4 594"); "Emre Demir is" is found from either word.
    if word.lower() in _OPENERS:
        return False
    after = _FOLLOWING.match(text, end)
    if after is None or not after.group(1) or _capitalised(after.group(1)):
        return True
    verb = _NEXT_WORD.match(text, end)
    return verb is not None and verb.group(1) in _PERSON_VERBS


def _looks_like_code(text: str, start: int, end: int, word: str) -> bool:
    before = text[start - 1] if start else " "
    after = text[end : end + 2]
    if before in _CODE_BEFORE or after[:1] in _CODE_AFTER or after[:1].isdigit():
        return True
    if after[:1] == "." and after[1:2].isalpha():
        return True  # "User.objects", "React.useState"
    if _CAMEL.search(word) and not _NAME_PREFIX.fullmatch(word):
        return True  # "TypeScript", "CoreDNS", but not "McDonald"
    if word[1].isupper():
        return True  # "IPython", "JSONDecoder"
    if _YAML_KEY.search(text, max(0, start - 40), start):
        return True  # "type: Opaque"
    if len(word) <= 4 and _UNIT_BEFORE.search(text, max(0, start - 2), start):
        return True  # a unit: "10 Gbit/s", "50 Hz"
    return _in_address(text, start, end)


def _in_address(text: str, start: int, end: int) -> bool:
    """Whether the word is part of a URL or an e-mail address."""
    near = text[max(0, start - 64) : end + 64]
    if "@" not in near and "://" not in near and "www." not in near.lower():
        return False  # the common case, decided in C
    before = start - 1
    while before >= max(0, start - 64) and text[before] not in _TOKEN_EDGES:
        before -= 1
    after = end
    while after < min(len(text), end + 64) and text[after] not in _TOKEN_EDGES:
        after += 1
    token = text[before + 1 : after]
    return "@" in token or "://" in token or "www." in token.lower()


def _capitalised(word: str) -> bool:
    """ "Jo", "Ma": a capital, then a lower-case letter; not "INV" or "Ab1"."""
    return len(word) == 2 and word[0].isupper() and word[1].islower()


def _at_sentence_start(text: str, start: int) -> bool:
    at = start - 1
    while at >= 0 and text[at] in " \t\u00a0([\"'\u201c\u2018":
        at -= 1
    return at < 0 or text[at] in _SENTENCE_END


def _word_edge(text: str, at: int, step: int) -> int:
    """``at`` moved inwards (``step`` is where outwards lies) off the word it
    cuts, if it cuts one: the model should not read half a word."""
    if step < 0:
        while 0 < at < len(text) and text[at - 1].isalnum() and text[at].isalnum():
            at += 1
    else:
        while 0 < at < len(text) and text[at - 1].isalnum() and text[at].isalnum():
            at -= 1
    return at
