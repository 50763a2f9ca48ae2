// BLIP's text clean-up (blip/data/utils.py pre_caption / pre_question), reproduced exactly because
// BLIP's checkpoints were trained on text cleaned this way.

const CAPTION_PUNCT = /([.!"()*#:;~])/g;
// Python's `\s` on str, which BLIP's regexes use: JavaScript's `\s` lacks \x1c-\x1f and \x85 and adds
// \ufeff, so a caption with those characters would be cleaned differently from BLIP's training text.
const PY_WHITESPACE_RUN = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]{2,}/g;

/** Lower-case, punctuation .!"()*#:;~ to a space, collapse runs of 2+ whitespace, trim, keep maxWords words. */
export function preCaption(caption: string, maxWords = 50): string {
  let text = caption.toLowerCase().replace(CAPTION_PUNCT, ' ');
  text = text.replace(PY_WHITESPACE_RUN, ' ');
  text = text.replace(/\n+$/, '');
  text = text.replace(/^ +| +$/g, '');
  const words = text.split(' ');
  return words.length > maxWords ? words.slice(0, maxWords).join(' ') : text;
}

/** Lower-case, delete .!"()*#:;~, trim trailing spaces, keep maxWords words. */
export function preQuestion(question: string, maxWords = 50): string {
  let text = question.toLowerCase().replace(CAPTION_PUNCT, '');
  text = text.replace(/ +$/, '');
  const words = text.split(' ');
  return words.length > maxWords ? words.slice(0, maxWords).join(' ') : text;
}

/** Swaps the words "left" and "right" (a horizontally flipped image's description). */
export function swapLeftRight(text: string): string {
  return text.replace(/\b(left|right)\b/gi, (word) => {
    const swapped = word.toLowerCase() === 'left' ? 'right' : 'left';
    if (word === word.toUpperCase()) return swapped.toUpperCase();
    return word[0] === word[0]!.toUpperCase() ? swapped[0]!.toUpperCase() + swapped.slice(1) : swapped;
  });
}
