import pytest

from common import make_model


@pytest.fixture
def model():
    return make_model()
