"""Every text the widget and its mails show, in English and Spanish; English fills any gap."""

from __future__ import annotations

from collections.abc import Sequence

DEFAULT_LANGUAGE = "en"

_EN: dict[str, str] = {
    "title": "Communication preferences",
    "intro": "Choose what you want to hear about, and how.",
    "loading": "Loading your preferences…",
    "save": "Save preferences",
    "saving": "Saving…",
    "saved": "Preferences saved",
    "unsubscribe_all": "Unsubscribe from all",
    "unsubscribe_all_hint": "Stop every message from us on every channel.",
    "unsubscribed_all_notice": "You are unsubscribed from all messages.",
    "pending": "Pending",
    "synced": "Up to date",
    "failed": "Not applied yet",
    "error_generic": "Something went wrong. Please try again.",
    "too_many_requests": "Too many attempts. Please wait a moment and try again.",
    "email_prompt": "Enter your email address and we will send you a code to manage your "
    "preferences.",
    "email_label": "Email address",
    "email_send": "Send code",
    "code_prompt": "Enter the 6-digit code we sent to your email.",
    "code_label": "Code",
    "code_verify": "Verify",
    "code_sent": "If that address can receive mail, a code is on its way.",
    "code_resend": "Send a new code",
    "code_invalid": "That code is not right.",
    "code_expired": "That code has expired. Request a new one.",
    "signed_out": "Sign in on this site to manage your preferences.",
    "close": "Close",
    "open": "Manage preferences",
    "dialog_label": "Communication preferences",
    "channel_email": "Email",
    "channel_sms": "SMS",
    "channel_push": "Push",
    "channel_whatsapp": "WhatsApp",
    "access_request": "Download my data",
    "erasure_request": "Delete my data",
    "rights_title": "Your data",
    "rights_hint": "Get a copy of the data we hold about you, or have it deleted.",
    "erasure_confirm_prompt": "This deletes your preferences and your profile with us for good, "
    "and we will stop sending you messages. This cannot be undone.",
    "erasure_confirm": "Yes, delete my data",
    "erasure_cancel": "Cancel",
    "rights_received": "Request received. We will start on it shortly.",
    "rights_in_progress": "Your request is being processed…",
    "rights_access_ready": "Your data is ready.",
    "rights_download": "Download your data",
    "rights_erasure_done": "Your data has been deleted.",
    "rights_failed": "We could not complete your request. Please try again later.",
    "receipt_download": "Download receipt",
    "receipt_downloaded": "Receipt downloaded",
    "page_title": "Your communication preferences",
    "page_refused_title": "This link does not work",
    "page_refused": "This link is not valid: it may have been changed or cut short. Open the link "
    "from your email again, or use the one in a more recent email.",
    "page_expired": "This link has expired. Use the link in a more recent email from us.",
    "page_not_found": "There is no such preference page.",
    "page_unsub_title": "Unsubscribe",
    "page_unsub_all": "Unsubscribe from every message from {name}?",
    "page_unsub_topic": "Unsubscribe from “{topic}”?",
    "page_unsub_button": "Unsubscribe",
    "page_manage": "Manage all your preferences instead",
    "page_unsub_done_all": "You are unsubscribed from every message from {name}.",
    "page_unsub_done_topic": "You are unsubscribed from “{topic}”.",
    "page_receipt_title": "Consent receipt",
    "page_receipt_intro": "What you chose, as recorded in {name}'s consent ledger.",
    "page_receipt_id": "Receipt",
    "page_receipt_time": "Recorded at",
    "page_receipt_method": "How",
    "page_receipt_topic": "Topic",
    "page_receipt_channel": "Channel",
    "page_receipt_state": "Choice",
    "page_receipt_subscribed": "Subscribed",
    "page_receipt_unsubscribed": "Unsubscribed",
    "page_receipt_never": "Never chosen",
    "page_receipt_entry": "Ledger entry",
    "page_receipt_verify": "The JSON receipt carries a signature; anyone can check it by sending "
    "it to {url}.",
    "mail_code_subject": "Your verification code",
    "mail_code_body": "Your verification code is {code}. It expires in {minutes} minutes.\n\n"
    "If you did not ask for it, ignore this message.",
}

_ES: dict[str, str] = {
    "title": "Preferencias de comunicación",
    "intro": "Elige sobre qué quieres recibir noticias y por qué canal.",
    "loading": "Cargando tus preferencias…",
    "save": "Guardar preferencias",
    "saving": "Guardando…",
    "saved": "Preferencias guardadas",
    "unsubscribe_all": "Darme de baja de todo",
    "unsubscribe_all_hint": "Deja de recibir todos nuestros mensajes en todos los canales.",
    "unsubscribed_all_notice": "Te has dado de baja de todos los mensajes.",
    "pending": "Pendiente",
    "synced": "Actualizado",
    "failed": "Aún sin aplicar",
    "error_generic": "Algo ha fallado. Inténtalo de nuevo.",
    "too_many_requests": "Demasiados intentos. Espera un momento e inténtalo de nuevo.",
    "email_prompt": "Escribe tu correo electrónico y te enviaremos un código para gestionar tus "
    "preferencias.",
    "email_label": "Correo electrónico",
    "email_send": "Enviar código",
    "code_prompt": "Escribe el código de 6 cifras que te hemos enviado por correo.",
    "code_label": "Código",
    "code_verify": "Verificar",
    "code_sent": "Si esa dirección puede recibir correo, el código ya está en camino.",
    "code_resend": "Enviar un código nuevo",
    "code_invalid": "Ese código no es correcto.",
    "code_expired": "Ese código ha caducado. Pide uno nuevo.",
    "signed_out": "Inicia sesión en este sitio para gestionar tus preferencias.",
    "close": "Cerrar",
    "open": "Gestionar preferencias",
    "dialog_label": "Preferencias de comunicación",
    "channel_email": "Correo electrónico",
    "channel_sms": "SMS",
    "channel_push": "Notificaciones push",
    "channel_whatsapp": "WhatsApp",
    "access_request": "Descargar mis datos",
    "erasure_request": "Eliminar mis datos",
    "rights_title": "Tus datos",
    "rights_hint": "Obtén una copia de los datos que tenemos sobre ti o pide que los eliminemos.",
    "erasure_confirm_prompt": "Esto elimina para siempre tus preferencias y tu perfil, y dejaremos "
    "de enviarte mensajes. No se puede deshacer.",
    "erasure_confirm": "Sí, eliminar mis datos",
    "erasure_cancel": "Cancelar",
    "rights_received": "Solicitud recibida. Empezaremos en breve.",
    "rights_in_progress": "Estamos procesando tu solicitud…",
    "rights_access_ready": "Tus datos están listos.",
    "rights_download": "Descargar tus datos",
    "rights_erasure_done": "Tus datos se han eliminado.",
    "rights_failed": "No hemos podido completar tu solicitud. Inténtalo más tarde.",
    "receipt_download": "Descargar justificante",
    "receipt_downloaded": "Justificante descargado",
    "page_title": "Tus preferencias de comunicación",
    "page_refused_title": "Este enlace no funciona",
    "page_refused": "Este enlace no es válido: puede que se haya modificado o cortado. Vuelve a "
    "abrir el enlace de tu correo o usa el de un correo más reciente.",
    "page_expired": "Este enlace ha caducado. Usa el enlace de un correo nuestro más reciente.",
    "page_not_found": "No existe esta página de preferencias.",
    "page_unsub_title": "Darse de baja",
    "page_unsub_all": "¿Darte de baja de todos los mensajes de {name}?",
    "page_unsub_topic": "¿Darte de baja de «{topic}»?",
    "page_unsub_button": "Darme de baja",
    "page_manage": "Gestionar todas tus preferencias",
    "page_unsub_done_all": "Te has dado de baja de todos los mensajes de {name}.",
    "page_unsub_done_topic": "Te has dado de baja de «{topic}».",
    "page_receipt_title": "Justificante de consentimiento",
    "page_receipt_intro": "Lo que elegiste, tal como consta en el registro de consentimiento de "
    "{name}.",
    "page_receipt_id": "Justificante",
    "page_receipt_time": "Registrado el",
    "page_receipt_method": "Cómo",
    "page_receipt_topic": "Tema",
    "page_receipt_channel": "Canal",
    "page_receipt_state": "Elección",
    "page_receipt_subscribed": "Suscrito",
    "page_receipt_unsubscribed": "No suscrito",
    "page_receipt_never": "Nunca elegido",
    "page_receipt_entry": "Entrada del registro",
    "page_receipt_verify": "El justificante JSON lleva una firma; cualquiera puede comprobarla "
    "enviándolo a {url}.",
    "mail_code_subject": "Tu código de verificación",
    "mail_code_body": "Tu código de verificación es {code}. Caduca en {minutes} minutos.\n\n"
    "Si no lo has pedido, ignora este mensaje.",
}

CATALOGUE: dict[str, dict[str, str]] = {"en": _EN, "es": _ES}
# Keys only the server uses (mail, the hosted pages); the widget never needs them.
SERVER_ONLY_PREFIXES = ("mail_", "page_")


def choose_language(requested: str | None, offered: Sequence[str]) -> str:
    """The requested language when the property offers it, else the property's first one."""
    offered = [lang for lang in offered if isinstance(lang, str)] or [DEFAULT_LANGUAGE]
    if requested:
        wanted = requested.strip().lower().replace("_", "-")
        if wanted in offered:
            return wanted
        base = wanted.split("-")[0]
        if base in offered:
            return base
    return offered[0]


def texts_for(language: str) -> dict[str, str]:
    """Every widget text in ``language``, English where a translation is missing."""
    own = CATALOGUE.get(language, {})
    return {
        key: own.get(key, value)
        for key, value in _EN.items()
        if not key.startswith(SERVER_ONLY_PREFIXES)
    }


def text(language: str, key: str) -> str:
    return CATALOGUE.get(language, {}).get(key) or _EN[key]


def channel_label(language: str, channel: str) -> str:
    key = f"channel_{channel}"
    if key in _EN:
        return text(language, key)
    return channel.capitalize()


def localised(values: dict[str, str] | None, language: str, fallback: Sequence[str] = ()) -> str:
    """Pick a translated field: the language, then fallbacks, then English, then anything."""
    if not values:
        return ""
    for lang in (language, *fallback, DEFAULT_LANGUAGE):
        if values.get(lang):
            return values[lang]
    return next(iter(values.values()), "")
