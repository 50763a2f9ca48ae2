// Caption tokenisation before BLEU / CIDEr-D. pycocoevalcap runs Stanford CoreNLP 3.4.1's
// PTBTokenizer (-preserveLines -lowerCase) and then drops the tokens
//   '' ' `` ` -LRB- -RRB- -LCB- -RCB- . ? ! , : - -- ... ;
// The toolkit does not depend on Java, so this is an approximation that agrees on ordinary captions
// (lower-case; punctuation split off word edges and dropped; clitics 's 're 've 'll 'd 'm n't split
// off as PTB does: "don't" → "do n't", "can't" → "ca n't"). Where it differs from PTBTokenizer:
// - punctuation inside a token stays ("dog,cat" is one token; PTB splits it), except that edges are
//   peeled, so an abbreviation loses its final period ("u.s." → "u.s"; PTB keeps "u.s.");
// - brackets are dropped; PTB turns them into -LRB-/-RRB- (and -LSB-/-RSB- for square ones), and
//   after -lowerCase these no longer match the upper-case drop list, so they may survive there;
// - PTB's other rewrites are not reproduced: "cannot" → "can not", "gonna" → "gon na", "$5" →
//   "$ 5", "5%" → "5 %", nor its normalisation of "&", Unicode quotes and dashes.

// Characters that PTB splits off a word's edges and pycocoevalcap then drops (quotes, brackets,
// sentence punctuation, hyphens/dashes).
const LEADING = /^[.,?!:;'"`()[\]{}-]+/u;
const TRAILING = /[.,?!:;'"`()[\]{}-]+$/u;
// Clitics PTB detaches from the word before them; n't takes the n with it ("does n't").
const CLITIC = /^(.*?)(n't|'s|'re|'ve|'ll|'d|'m)$/u;

/** Tokens of one caption, lower-cased, punctuation removed (see the module comment). */
export function captionTokens(text: string): string[] {
  const tokens: string[] = [];
  for (const chunk of text.toLowerCase().split(/\s+/u)) {
    // Trailing punctuation first, so that a clitic ("dog's." or a lone "'s") is seen before the
    // leading-quote peeling could eat its apostrophe.
    const word = chunk.replace(TRAILING, '');
    const clitic = CLITIC.exec(word);
    const base = (clitic ? clitic[1]! : word).replace(LEADING, '').replace(TRAILING, '');
    if (base !== '') tokens.push(base);
    if (clitic) tokens.push(clitic[2]!);
  }
  return tokens;
}

/** A caption as BLEU and CIDEr-D expect it: its tokens joined by single spaces. */
export function tokenizeCaption(text: string): string {
  return captionTokens(text).join(' ');
}
