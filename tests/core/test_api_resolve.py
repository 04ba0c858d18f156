"""APIHandler remembers how fixed API paths resolve (docs/decisions/0008),
and only those: paths with parameters and paths that do not resolve are
resolved every time, and another URLconf is resolved on its own."""

import pytest
from django.http import HttpResponse
from django.test import RequestFactory, override_settings
from django.urls import Resolver404, path

from apps.core.handlers import APIHandler


def other_view(request):
    return HttpResponse("other")


urlpatterns = [path("v1/chat/completions", other_view)]  # this module as a URLconf


@pytest.fixture
def handler():
    return APIHandler()


def _resolve(handler, url):
    request = RequestFactory().post(url)
    match = handler.resolve_request(request)
    assert request.resolver_match is match
    return match


def test_a_fixed_path_is_resolved_once(handler):
    first = _resolve(handler, "/v1/chat/completions")
    assert first.url_name == "chat_completions"
    assert _resolve(handler, "/v1/chat/completions") is first


def test_paths_with_parameters_and_unknown_paths_are_not_kept(handler):
    match = _resolve(handler, "/v1/models/cloud-mini")
    assert match.kwargs == {"model_id": "cloud-mini"}
    assert _resolve(handler, "/v1/models/other").kwargs == {"model_id": "other"}
    with pytest.raises(Resolver404):
        _resolve(handler, "/v1/made-up")
    assert handler._resolved == {}


def test_another_urlconf_resolves_on_its_own(handler):
    assert _resolve(handler, "/v1/chat/completions").url_name == "chat_completions"
    with override_settings(ROOT_URLCONF=__name__):
        assert _resolve(handler, "/v1/chat/completions").func is other_view
    assert _resolve(handler, "/v1/chat/completions").url_name == "chat_completions"
