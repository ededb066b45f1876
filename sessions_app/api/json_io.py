"""The API's JSON in and out (settings `REST_FRAMEWORK`).

In: bodies go through the same validator as every other input (`stored_json.parse_input`):
standard JSON only, finite numbers, no lone surrogates, limited nesting; a refused body is a 400
that names the problem. NUL characters are accepted (Voiceflow holds them).

Out: a state read from Voiceflow may hold what JSON cannot carry as such. Lone surrogates are
written as `\\uXXXX` escapes and NaN/Infinity as null, which is what Voiceflow's own API
(JavaScript's JSON.stringify) answers for them.
"""

import json

from django.conf import settings
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer

from ..stored_json import UnsafeJSON, as_javascript_would, check_input, parse_input


class CheckedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding)
        except UnicodeDecodeError as error:
            raise ParseError(f"The body is not {encoding} text (byte {error.start}).") from None
        try:
            return parse_input(text, "The body")
        except UnsafeJSON as error:
            raise ParseError(str(error)) from None
        except json.JSONDecodeError as error:
            raise ParseError(
                f"The body is not valid JSON: {error.msg} (line {error.lineno}, column "
                f"{error.colno})."
            ) from None


class StateJSONRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except ValueError:  # NaN or Infinity (strict JSON), or a lone surrogate (UTF-8)
            fallback = JSONRenderer()
            fallback.ensure_ascii = True
            return fallback.render(as_javascript_would(data), accepted_media_type, renderer_context)


class CheckedJSONField(serializers.JSONField):
    """A JSON field whose text (a multipart form's field) goes through the same validator as a
    body; a value from a JSON body was checked by the parser already."""

    def to_internal_value(self, data):
        if isinstance(data, str | bytes):
            text = data.decode() if isinstance(data, bytes) else data
            try:
                return parse_input(text, "The value")
            except UnsafeJSON as error:
                raise serializers.ValidationError(str(error)) from None
            except json.JSONDecodeError:
                raise serializers.ValidationError("The value is not valid JSON.") from None
        try:
            return check_input(data, "The value")
        except UnsafeJSON as error:
            raise serializers.ValidationError(str(error)) from None
