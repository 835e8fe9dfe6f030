from django import forms

from community.errors import PostingRefused
from community.models import Member, Organisation, Room, Sector
from community.moderation import name_check


class OrganisationForm(forms.ModelForm):
    website = forms.URLField(required=False, assume_scheme="https", max_length=200)

    class Meta:
        model = Organisation
        fields = ["name", "sector", "size", "town", "website", "offers", "seeks"]
        labels = {"name": "Organisation name", "offers": "What you offer", "seeks": "What you seek"}
        widgets = {
            "offers": forms.Textarea(attrs={"rows": 3, "maxlength": 2000}),
            "seeks": forms.Textarea(attrs={"rows": 3, "maxlength": 2000}),
        }

    def clean_offers(self):
        return _limited(self.cleaned_data["offers"], 2000)

    def clean_seeks(self):
        return _limited(self.cleaned_data["seeks"], 2000)

    def clean_name(self):
        return _name(self.cleaned_data["name"], "Organisation name", 200)

    def clean_town(self):
        town = self.cleaned_data["town"]
        return _name(town, "Town", 120) if town.strip() else ""


def _name(value: str, what: str, limit: int) -> str:
    try:
        return name_check(text=value, what=what, max_chars=limit)
    except PostingRefused as refused:
        raise forms.ValidationError(refused.detail) from None


def _limited(value: str, limit: int) -> str:
    if len(value) > limit:
        raise forms.ValidationError(f"At most {limit:,} characters, please.")
    return value


class MemberForm(forms.ModelForm):
    class Meta:
        model = Member
        fields = ["display_name", "job_title"]
        labels = {"display_name": "Your name"}

    def clean_display_name(self):
        return _name(self.cleaned_data["display_name"], "Your name", 80)

    def clean_job_title(self):
        title = self.cleaned_data["job_title"]
        return _name(title, "Job title", 120) if title.strip() else ""


class SignupExtraForm(forms.Form):
    """allauth's signup form gets the member's name and their organisation's essentials."""

    display_name = forms.CharField(label="Your name", max_length=80)
    organisation_name = forms.CharField(label="Organisation", max_length=200)
    sector = forms.ModelChoiceField(queryset=Sector.objects.all(), label="Sector")
    size = forms.ChoiceField(choices=Organisation.Size.choices, label="Size")
    town = forms.CharField(max_length=120, required=False)

    field_order = ["display_name", "email", "organisation_name", "sector", "size", "town"]

    def clean_display_name(self):
        return _name(self.cleaned_data["display_name"], "Your name", 80)

    def clean_organisation_name(self):
        return _name(self.cleaned_data["organisation_name"], "Organisation name", 200)

    def clean_town(self):
        town = self.cleaned_data.get("town", "")
        return _name(town, "Town", 120) if town.strip() else ""

    def signup(self, request, user):
        from community.services import member_profile_update, organisation_save

        data = self.cleaned_data
        member_profile_update(member=user, display_name=data["display_name"], job_title="")
        organisation_save(
            member=user,
            fields={
                "name": data["organisation_name"],
                "sector": data["sector"],
                "size": data["size"],
                "town": data.get("town", "").strip(),
            },
        )


class RoomMuteForm(forms.Form):
    reason = forms.CharField(max_length=300, required=False)
    until = forms.DateTimeField(required=False)


class MemberMuteForm(forms.Form):
    """A moderator's mute of a member: everywhere, or in one room."""

    room = forms.ModelChoiceField(
        queryset=Room.objects.order_by("name"), required=False, empty_label="Everywhere"
    )
    reason = forms.CharField(max_length=300, required=False)
    until = forms.DateTimeField(required=False)


class MemberUnmuteForm(forms.Form):
    scope = forms.ChoiceField(choices=[("all", "all"), ("site", "site"), ("room", "room")])
    room_id = forms.IntegerField(required=False, min_value=1)


class MessageForm(forms.Form):
    """The no-JavaScript composer; the policy does the real checks."""

    body = forms.CharField(strip=False, required=False)
    client_id = forms.UUIDField(required=False)
