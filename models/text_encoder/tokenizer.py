"""In-graph BERT WordPiece tokenizer that reproduces Hugging Face's BertTokenizer.

keras-hub's and tensorflow_text's BERT tokenizers lowercase with NFKC case folding,
which Hugging Face does not do: "ß" becomes "ss", "…" becomes "...", full-width
letters become ASCII, so their token ids differ from the ones the checkpoints were
trained with. This module follows the Hugging Face normaliser step by step
(clean text, space out CJK ideographs, strip accents, lowercase, split on
whitespace and punctuation) and then runs tensorflow_text's FastWordpieceTokenizer
on the words, all with TensorFlow ops, so it lives inside an exported SavedModel.
"""
from typing import Sequence

import tensorflow as tf
import tensorflow_text as tf_text

CLS_TOKEN = "[CLS]"
SEP_TOKEN = "[SEP]"
PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"

# Hugging Face drops NUL, U+FFFD and every "C*" character except tab, CR and LF.
_DROPPED_CHARACTERS = r"[\x{0}-\x{8}\x{B}\x{C}\x{E}-\x{1F}\x{7F}-\x{9F}\p{Cf}\p{Co}\p{Cs}\x{FFFD}]"
# Tab, CR, LF and the Unicode separators become a plain space.
_WHITESPACE = r"[\t\n\r\p{Z}]"
# The ideograph blocks of Hugging Face's (Rust) BERT normaliser, which starts its
# sixth block at U+2B920 where the original Python BERT starts it at U+2B820.
_CJK_IDEOGRAPH = (
    r"[\x{4E00}-\x{9FFF}\x{3400}-\x{4DBF}\x{20000}-\x{2A6DF}\x{2A700}-\x{2B73F}"
    r"\x{2B740}-\x{2B81F}\x{2B920}-\x{2CEAF}\x{F900}-\x{FAFF}\x{2F800}-\x{2FA1F}]"
)
# All non-alphanumeric ASCII symbols count as punctuation, as in BERT.
_PUNCTUATION = r"[!-/:-@\[-`{-~\p{P}]"
# Hugging Face maps a word longer than this many characters to [UNK].
_MAX_CHARACTERS_PER_WORD = 100


class BertWordPieceTokenizer(tf.Module):
    """Strings -> (token_ids, padding_mask), both int32 [batch, length].

    Each row is [CLS] word pieces [SEP], truncated to `sequence_length` tokens and
    padded with [PAD] to the longest row of the batch.
    """

    def __init__(
        self,
        vocabulary: Sequence[str],
        sequence_length: int,
        lowercase: bool = True,
        strip_accents: bool | None = None,
    ):
        super().__init__(name="bert_wordpiece_tokenizer")
        vocabulary = list(vocabulary)
        for token in (CLS_TOKEN, SEP_TOKEN, PAD_TOKEN, UNK_TOKEN):
            if token not in vocabulary:
                raise ValueError(f"The vocabulary has no {token} token.")
        if sequence_length < 2:
            raise ValueError(f"sequence_length must be at least 2, got {sequence_length}.")
        self.sequence_length = sequence_length
        self.lowercase = lowercase
        # Hugging Face's default: strip accents exactly when lowercasing.
        self.strip_accents = lowercase if strip_accents is None else strip_accents
        self._cls_id = vocabulary.index(CLS_TOKEN)
        self._sep_id = vocabulary.index(SEP_TOKEN)
        self._pad_id = vocabulary.index(PAD_TOKEN)
        self._unk_token = UNK_TOKEN
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=vocabulary,
            suffix_indicator="##",
            # Words are limited by characters below; 4 bytes is the widest character.
            max_bytes_per_word=4 * _MAX_CHARACTERS_PER_WORD,
            token_out_type=tf.int32,
            unknown_token=UNK_TOKEN,
            no_pretokenization=True,
        )

    def words(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """Normalised words of each text, [batch, (words)] strings."""
        texts = tf.strings.regex_replace(texts, _DROPPED_CHARACTERS, "")
        texts = tf.strings.regex_replace(texts, _WHITESPACE, " ")
        texts = tf.strings.regex_replace(texts, _CJK_IDEOGRAPH, r" \0 ")
        if self.strip_accents:
            texts = tf_text.normalize_utf8(texts, "NFD")
            texts = tf.strings.regex_replace(texts, r"\p{Mn}", "")
        if self.lowercase:
            # Hugging Face lowercases character by character, so capital sigma is
            # always "σ"; ICU would write "ς" at the end of a word.
            texts = tf.strings.regex_replace(texts, "Σ", "σ")
            texts = tf.strings.lower(texts, encoding="utf-8")
        words = tf_text.regex_split(
            texts, delim_regex_pattern=f" |{_PUNCTUATION}", keep_delim_regex_pattern=_PUNCTUATION
        )
        too_long = tf.strings.length(words.flat_values, unit="UTF8_CHAR") > _MAX_CHARACTERS_PER_WORD
        return words.with_flat_values(
            tf.where(too_long, self._unk_token, words.flat_values)
        )

    def __call__(self, texts: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        pieces = self._wordpiece.tokenize(self.words(texts)).merge_dims(1, 2)
        pieces = pieces[:, : self.sequence_length - 2]
        batch_size = pieces.nrows()
        cls = tf.fill([batch_size, 1], self._cls_id)
        sep = tf.fill([batch_size, 1], self._sep_id)
        token_ids = tf.concat([cls, pieces, sep], axis=1)
        padding_mask = tf.ones_like(token_ids)
        return (
            token_ids.to_tensor(default_value=self._pad_id),
            padding_mask.to_tensor(default_value=0),
        )
