"""Word lists the detector datasets are generated from. Every list is filtered per model: only
words that are a single token of the model's tokenizer are used (see ``tokens.single_token``)."""

from __future__ import annotations

# Common English first names (IOI prompts use two distinct names plus a third for corruption).
NAMES: tuple[str, ...] = (
    "Mary", "John", "Alice", "Bob", "James", "Sarah", "David", "Emma", "Michael", "Laura",
    "Daniel", "Anna", "Thomas", "Lisa", "Paul", "Kate", "Mark", "Jane", "Peter", "Susan",
    "George", "Helen", "Frank", "Rachel", "Henry", "Ruth", "Jack", "Rose", "Adam", "Grace",
    "Eric", "Amy", "Kevin", "Emily", "Steven", "Julia", "Brian", "Diana", "Ryan", "Claire",
    "Jason", "Sophie", "Tim", "Lucy", "Sam", "Kelly", "Max", "Nina", "Ben", "Lily", "Timmy",
)

# Ordered token sets for succession (Gould et al.): each member's successor is the next one.
ORDINAL_SETS: dict[str, tuple[str, ...]] = {
    "numbers": tuple(str(i) for i in range(1, 21)),
    "number_words": (
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
        "eighteen", "nineteen", "twenty",
    ),
    "ordinals": (
        "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
    ),
    "days": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "months": (
        "January", "February", "March", "April", "May", "June", "July", "August",
        "September", "October", "November", "December",
    ),
    "letters": tuple(chr(c) for c in range(ord("A"), ord("Z") + 1)),
}

# Indirect-object-identification templates: {IO} and {S} are names, S is repeated at S2.
IOI_TEMPLATES: tuple[str, ...] = (
    "When {IO} and {S} went to the {PLACE}, {S} gave a {OBJECT} to",
    "When {IO} and {S} went to the {PLACE}, {S} handed a {OBJECT} to",
    "After {IO} and {S} arrived at the {PLACE}, {S} gave a {OBJECT} to",
    "Then, {IO} and {S} had a long talk at the {PLACE}. {S} gave a {OBJECT} to",
    "While {IO} and {S} were working at the {PLACE}, {S} passed a {OBJECT} to",
)
PLACES: tuple[str, ...] = ("store", "park", "school", "office", "market", "station", "garden")
OBJECTS: tuple[str, ...] = ("drink", "book", "ring", "ball", "letter", "gift", "key")

# (country, capital, official language, continent, currency). Facts as of 2024.
COUNTRIES: tuple[tuple[str, str, str, str, str], ...] = (
    ("France", "Paris", "French", "Europe", "euro"),
    ("Germany", "Berlin", "German", "Europe", "euro"),
    ("Italy", "Rome", "Italian", "Europe", "euro"),
    ("Spain", "Madrid", "Spanish", "Europe", "euro"),
    ("Portugal", "Lisbon", "Portuguese", "Europe", "euro"),
    ("Greece", "Athens", "Greek", "Europe", "euro"),
    ("Austria", "Vienna", "German", "Europe", "euro"),
    ("Netherlands", "Amsterdam", "Dutch", "Europe", "euro"),
    ("Finland", "Helsinki", "Finnish", "Europe", "euro"),
    ("Ireland", "Dublin", "Irish", "Europe", "euro"),
    ("Poland", "Warsaw", "Polish", "Europe", "zloty"),
    ("Sweden", "Stockholm", "Swedish", "Europe", "krona"),
    ("Norway", "Oslo", "Norwegian", "Europe", "krone"),
    ("Denmark", "Copenhagen", "Danish", "Europe", "krone"),
    ("Hungary", "Budapest", "Hungarian", "Europe", "forint"),
    ("Czechia", "Prague", "Czech", "Europe", "koruna"),
    ("Romania", "Bucharest", "Romanian", "Europe", "leu"),
    ("Ukraine", "Kyiv", "Ukrainian", "Europe", "hryvnia"),
    ("Russia", "Moscow", "Russian", "Europe", "ruble"),
    ("Bulgaria", "Sofia", "Bulgarian", "Europe", "lev"),
    ("Turkey", "Ankara", "Turkish", "Asia", "lira"),
    ("Japan", "Tokyo", "Japanese", "Asia", "yen"),
    ("China", "Beijing", "Chinese", "Asia", "yuan"),
    ("India", "Delhi", "Hindi", "Asia", "rupee"),
    ("Thailand", "Bangkok", "Thai", "Asia", "baht"),
    ("Vietnam", "Hanoi", "Vietnamese", "Asia", "dong"),
    ("Indonesia", "Jakarta", "Indonesian", "Asia", "rupiah"),
    ("Malaysia", "Kuala Lumpur", "Malay", "Asia", "ringgit"),
    ("Philippines", "Manila", "Filipino", "Asia", "peso"),
    ("Pakistan", "Islamabad", "Urdu", "Asia", "rupee"),
    ("Iran", "Tehran", "Persian", "Asia", "rial"),
    ("Israel", "Jerusalem", "Hebrew", "Asia", "shekel"),
    ("South Korea", "Seoul", "Korean", "Asia", "won"),
    ("Egypt", "Cairo", "Arabic", "Africa", "pound"),
    ("Kenya", "Nairobi", "Swahili", "Africa", "shilling"),
    ("Nigeria", "Abuja", "English", "Africa", "naira"),
    ("Ethiopia", "Addis Ababa", "Amharic", "Africa", "birr"),
    ("Morocco", "Rabat", "Arabic", "Africa", "dirham"),
    ("Ghana", "Accra", "English", "Africa", "cedi"),
    ("Brazil", "Brasilia", "Portuguese", "America", "real"),
    ("Argentina", "Buenos Aires", "Spanish", "America", "peso"),
    ("Mexico", "Mexico City", "Spanish", "America", "peso"),
    ("Peru", "Lima", "Spanish", "America", "sol"),
    ("Chile", "Santiago", "Spanish", "America", "peso"),
    ("Colombia", "Bogota", "Spanish", "America", "peso"),
    ("Serbia", "Belgrade", "Serbian", "Europe", "dinar"),
    ("Cuba", "Havana", "Spanish", "America", "peso"),
    ("Australia", "Canberra", "English", "Australia", "dollar"),
    ("Britain", "London", "English", "Europe", "pound"),
    ("Croatia", "Zagreb", "Croatian", "Europe", "euro"),
)

# How each relation is asked, and the words that express the relation itself (what a relation
# head's output should promote, in the sense of Knowledge Circuits).
RELATIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "capital": ("The capital city of {S} is", ("capital", "city", "cities", "capitals")),
    "language": ("The official language of {S} is", ("language", "languages", "speak", "spoken")),
    "continent": ("{S} is a country on the continent of", ("continent", "continents", "country")),
    "currency": ("The official currency of {S} is the", ("currency", "money", "currencies")),
}
# More ways to ask each relation; every template contains the relation's span below.
EXTRA_RELATION_TEMPLATES: dict[str, tuple[str, ...]] = {
    "capital": ("In {S}, the capital city is", "The name of the capital city of {S} is"),
    "language": ("In {S}, the official language is", "The main official language of {S} is"),
    "continent": ("{S} lies on the continent of", "The continent where {S} is located is"),
    "currency": ("In {S}, the official currency is the", "People in {S} pay with the official currency, the"),
}
RELATION_SPANS: dict[str, str] = {
    "capital": "capital city",
    "language": "official language",
    "continent": "continent",
    "currency": "official currency",
}
