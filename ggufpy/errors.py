"""The ggufpy exception hierarchy.

Every error caused by untrusted input is a ``GGUFError``; its message says what is wrong, where
(byte offset, key or tensor) and what was expected versus found, so a user can act on it.

    GGUFError(Exception)
      GGUFFormatError(GGUFError, ValueError)          malformed file or metadata
      UnsupportedTypeError(GGUFError, NotImplementedError)  a valid type ggufpy cannot (yet) handle
      WriterStateError(GGUFError, RuntimeError)        GGUFWriter calls out of order
      FetchError(GGUFError, RuntimeError)              model/fixture download or checksum failure
      ConvertError(GGUFError, ValueError)              a Hugging Face checkpoint that cannot be converted
"""


class GGUFError(Exception):
    """Base class of every ggufpy error."""


class GGUFFormatError(GGUFError, ValueError):
    """Malformed GGUF input: the message names what, where and expected vs got."""


class UnsupportedTypeError(GGUFError, NotImplementedError):
    """A well-formed value whose type ggufpy does not support here."""


class WriterStateError(GGUFError, RuntimeError):
    """GGUFWriter methods called in an order its state machine does not allow."""


class FetchError(GGUFError, RuntimeError):
    """Fetching a pinned artifact failed (pip error, missing member, checksum mismatch)."""


class ConvertError(GGUFError, ValueError):
    """A Hugging Face checkpoint ``ggufpy convert`` cannot convert: malformed or missing files, shapes that
    disagree with config.json, an unsupported architecture or tokenizer. The message names the file."""
