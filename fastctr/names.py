"""Generated container names, ADJECTIVE_SURNAME as Docker makes them.

A farm creates thousands of unnamed containers at once: with 128 adjectives
and 276 surnames (35,000 names; Docker's name space has ~25,000) two
concurrent runs rarely draw the same name, and the engine draws again when
they do (the store's UNIQUE constraint is the judge, not a prior look-up)."""
import os

ADJECTIVES = (
    "admiring", "adoring", "affectionate", "agile", "alert", "amazing", "ample", "ardent", "artful", "awesome",
    "blissful", "bold", "brave", "bright", "brisk", "busy", "calm", "candid", "careful", "charming",
    "cheerful", "clever", "cool", "cosmic", "crisp", "curious", "dapper", "daring", "dazzling", "deft",
    "determined", "devoted", "diligent", "dreamy", "eager", "earnest", "ecstatic", "elastic", "elated",
    "elegant", "eloquent", "epic", "exciting", "fervent", "festive", "fluent", "focused", "fond", "friendly",
    "frosty", "funny", "gallant", "generous", "gentle", "gifted", "gleaming", "glowing", "graceful",
    "grateful", "happy", "hardy", "hopeful", "humble", "inspiring", "intrepid", "jolly", "jovial", "keen",
    "kind", "laughing", "lively", "loving", "loyal", "lucid", "lucky", "magical", "mellow", "merry",
    "mindful", "modest", "musing", "mystic", "nice", "nifty", "nimble", "noble", "optimistic", "patient",
    "peaceful", "placid", "playful", "plucky", "polite", "practical", "proud", "quick", "quiet", "radiant",
    "relaxed", "resolute", "romantic", "serene", "sharp", "sleepy", "smart", "snappy", "sober", "spirited",
    "steady", "stoic", "sturdy", "sunny", "swift", "tender", "thoughtful", "tidy", "trusting", "upbeat",
    "valiant", "vibrant", "vigilant", "vigorous", "vivid", "warm", "wise", "witty", "youthful", "zealous",
)

SURNAMES = (
    "agnesi", "aho", "albattani", "allen", "almeida", "archimedes", "aryabhata", "austin", "babbage", "backus",
    "banach", "bardeen", "bartik", "bassi", "beaver", "bell", "bengio", "benz", "bhabha", "bhaskara",
    "blackwell", "bohr", "boole", "booth", "borg", "bose", "boyd", "brahmagupta", "brattain", "brown",
    "buck", "burnell", "cannon", "cantor", "carson", "cartwright", "cauchy", "cerf", "chandrasekhar",
    "chatelet", "chebyshev", "chomsky", "church", "clarke", "codd", "cohen", "colden", "conway", "cook",
    "copernicus", "cori", "cray", "curie", "darwin", "davinci", "dedekind", "descartes", "dewdney", "dhawan",
    "diffie", "dijkstra", "dirac", "driscoll", "dubinsky", "easley", "edison", "einstein", "elbakyan",
    "elgamal", "elion", "ellis", "engelbart", "erdos", "euclid", "euler", "faraday", "feistel", "fermat",
    "fermi", "feynman", "fibonacci", "floyd", "fourier", "franklin", "gagarin", "galileo", "galois",
    "ganguly", "gauss", "germain", "godel", "goldberg", "goldstine", "goldwasser", "goodall", "gould",
    "gray", "greider", "grothendieck", "haibt", "hamilton", "hamming", "haslett", "hawking", "heisenberg",
    "hellman", "hennessy", "hermite", "herschel", "hertz", "heyrovsky", "hilbert", "hinton", "hoare",
    "hodgkin", "hofstadter", "hollerith", "hoover", "hopper", "hubble", "huffman", "hugle", "huygens",
    "hypatia", "ishizaka", "jackson", "jacobi", "jang", "jemison", "jennings", "jepsen", "johnson",
    "joliot", "jones", "joule", "kahan", "kahn", "kalam", "kapitsa", "kare", "karp", "kay", "keldysh",
    "keller", "kelvin", "kepler", "kernighan", "khayyam", "khorana", "kilby", "kirch", "kleene", "knuth",
    "kolmogorov", "kowalevski", "lagrange", "lalande", "lamarr", "lamport", "lampson", "laplace", "leakey",
    "leavitt", "lecun", "lederberg", "lehmann", "leibniz", "lewin", "lichterman", "liskov", "lovelace",
    "lumiere", "mahavira", "margulis", "markov", "matsumoto", "maxwell", "mayer", "mccarthy", "mcclintock",
    "mclean", "mcnulty", "meitner", "mendel", "mendeleev", "merkle", "micali", "milner", "minsky",
    "mirzakhani", "montalcini", "moore", "morse", "moser", "murdock", "napier", "nash", "naur", "neumann",
    "newton", "nightingale", "nobel", "noether", "northcutt", "noyce", "nygaard", "ohm", "panini", "pascal",
    "pasteur", "patterson", "payne", "pearl", "perlman", "pike", "planck", "poincare", "poitras", "ptolemy",
    "rabin", "raman", "ramanujan", "rhodes", "ride", "riemann", "ritchie", "rivest", "robinson", "roentgen",
    "rubin", "saha", "sammet", "sanderson", "scott", "shamir", "shannon", "shaw", "shirley", "shockley",
    "sinoussi", "snyder", "solomon", "spence", "stallman", "stonebraker", "stroustrup", "sutherland",
    "swanson", "swartz", "swirles", "tarjan", "taussig", "tesla", "tharp", "thompson", "torvalds", "turing",
    "ullman", "vaughan", "villani", "volta", "wescoff", "wiener", "wilbur", "wiles", "wilkes", "williams",
    "wilson", "wing", "wirth", "wozniak", "wright", "wu", "yalow", "yonath", "zuse",
)


def generate():
    """A random ADJECTIVE_SURNAME."""
    a, b = int.from_bytes(os.urandom(4), "little"), int.from_bytes(os.urandom(4), "little")
    return f"{ADJECTIVES[a % len(ADJECTIVES)]}_{SURNAMES[b % len(SURNAMES)]}"
