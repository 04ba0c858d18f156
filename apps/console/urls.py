from django.urls import path

from . import models_views, routing_views, views

app_name = "console"

urlpatterns = [
    path("", views.policy_page, name="policy"),
    path("levels/", views.section_save, {"section": "levels"}, name="levels"),
    path("detectors/", views.section_save, {"section": "detectors"}, name="detectors"),
    path("detectors/packs/<str:pack>/", views.detector_pack_enable, name="detector_pack"),
    path("weights/", views.section_save, {"section": "weights"}, name="weights"),
    path("custom/<str:scope>/", views.custom_detector_add, name="custom_add"),
    path(
        "custom/<str:scope>/<str:name>/delete/", views.custom_detector_delete, name="custom_delete"
    ),
    path("teams/<int:team_id>/floor/", views.team_floor_save, name="team_floor"),
    path("rules/", views.rule_save, name="rule_add"),
    path("rules/<str:rule_id>/", views.rule_save, name="rule_save"),
    path("rules/<str:rule_id>/edit/", views.rule_edit_form, name="rule_edit"),
    path("rules/<str:rule_id>/<str:action>/", views.rule_action, name="rule_action"),
    path("publish/", views.publish, name="publish"),
    path("discard/", views.discard, name="discard"),
    path("requests/teams/<int:team_id>/", views.change_request_open, name="request_open"),
    path("requests/<int:pk>/<str:action>/", views.change_request_decide, name="request_decide"),
    path("versions/", views.versions, name="versions"),
    path("versions/<int:number>/rollback/", views.rollback, name="rollback"),
    path("simulate/", views.simulate, name="simulate"),
    path("replay/", views.replay, name="replay"),
    path("calibration/", routing_views.calibration_page, name="calibration"),
]
urlpatterns += models_views.urlpatterns  # providers and models page
