from django.urls import reverse

from nir_portal.accounts.models import Role


def test_a_trust_member_sees_only_their_own_deployments_on_the_home_page(world, signed_in):
    viewer = world.member(world.trust_a, Role.VIEWER)

    response = signed_in(viewer).get(reverse("home"))

    assert response.status_code == 200
    assert list(response.context["deployments"]) == [world.deployment_a]
    assert "Trust B NIR" not in response.content.decode()
