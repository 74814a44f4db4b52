"""French texts of the bot (vouvoiement), kept together so wording stays consistent."""

from __future__ import annotations

from storage.models import Role

STRANGER = (
    "Bonjour. Ce service est réservé aux entreprises, facilitateur·rices et référents invités "
    "par l'agence clauses sociales.\n"
    "Pour obtenir une invitation, adressez-vous à votre facilitateur·rice clauses sociales : "
    "vous recevrez un code à envoyer ici, par exemple « /start ABCD-EFGH-JKMN »."
)

PRIVATE_ONLY = "Ce service s'utilise uniquement en conversation privée avec le bot."

TOO_LONG = (
    "Votre message est trop long ({n} caractères ; {limit} au maximum). "
    "Envoyez une version plus courte."
)

INTERNAL_ERROR = (
    "Une erreur inattendue s'est produite ; rien n'a été enregistré pour ce message. "
    "Réessayez dans un instant, ou tapez /annuler pour recommencer."
)

UNKNOWN_COMMAND = "Commande inconnue : {cmd}. Tapez /aide pour la liste des commandes."
NOT_FOR_ROLE = "La commande {cmd} n'est pas disponible pour votre profil. Tapez /aide."
NOT_UNDERSTOOD = (
    "Je n'ai pas compris votre message. Tapez /aide pour la liste des commandes."
)
NOT_UNDERSTOOD_COMPANY = (
    "Je n'ai pas compris votre message. Pour déclarer des heures, tapez /declarer, ou écrivez "
    "par exemple « Dupont Marie 35h le mois dernier ». Tapez /aide pour la liste des commandes."
)
CANCELLED = "C'est annulé : rien n'a été enregistré. Tapez /aide pour la liste des commandes."
NOTHING_TO_CANCEL = "Il n'y a aucune saisie en cours. Tapez /aide pour la liste des commandes."
ABANDONED = "La saisie en cours ({what}) a été abandonnée."
EXPIRED = "Votre saisie précédente était trop ancienne et a été abandonnée."
STALE_BUTTON = "Ce bouton n'est plus actif."
BAD_BUTTON = "Bouton non reconnu."
UNEXPECTED_FILE = (
    "Je n'attends pas de fichier pour le moment. Pour joindre un justificatif, passez par "
    "/declarer ; pour un CV, par /candidat."
)
FILE_TOO_BIG = (
    "Fichier trop volumineux ({size} Mo) : la limite est de {limit} Mo. "
    "Réduisez-le (PDF compressé, photo moins lourde) et renvoyez-le."
)
FILE_MISSING = "Le fichier n'a pas pu être récupéré. Renvoyez-le, s'il vous plaît."
ALREADY_LINKED = (
    "Votre compte est déjà relié à clausebot. Tapez /aide pour la liste des commandes."
)
UNAVAILABLE = "Cette fonction est momentanément indisponible. Réessayez plus tard."

FLOW_NAMES = {
    "declarer": "déclaration d'heures",
    "corriger": "correction d'une déclaration",
    "candidat": "proposition de candidat",
    "embauche": "déclaration d'embauche",
    "refus": "refus d'une candidature",
    "bilan": "bilan",
    "offre": "offre d'emploi",
    "controle": "contestation d'une déclaration",
    "justificatif": "envoi d'un justificatif",
}

ROLE_LABELS = {
    Role.ADMIN: "administrateur·rice",
    Role.FACILITATEUR: "facilitateur·rice",
    Role.ENTREPRISE: "entreprise",
    Role.REFERENT: "référent·e du donneur d'ordre",
    Role.PRESCRIPTEUR: "prescripteur",
}

HELP_COMMON = (
    "/aide — cette aide\n"
    "/annuler — abandonner la saisie en cours\n"
    "/deconnexion — retirer le lien entre ce compte et clausebot"
)

HELP = {
    Role.ENTREPRISE: (
        "Commandes disponibles :\n"
        "/declarer — déclarer les heures d'un mois (guidé)\n"
        "/mes_declarations — voir et corriger vos déclarations (validées ou contestées par "
        "votre facilitateur·rice : une contestation se règle en corrigeant ou avec le justificatif)\n"
        "/avancement — vos heures dues, réalisées et attendues, par lot\n"
        "/embauche — déclarer l'embauche d'un candidat validé (aussi : le bouton « Déclarer "
        "l'embauche » du message de validation, même pour le candidat d'un prescripteur)\n"
        "/contrats — les contrats de vos salarié·e·s en insertion\n"
        "/candidat — proposer un candidat à votre facilitateur·rice (profil facultatif) ; "
        "/candidat OFF-12 pour l'offre OFF-12\n"
        "/offre — déposer une offre d'emploi, diffusée aux partenaires ; /offres — vos offres\n"
        "/reponse <texte> — répondre à une procédure de relance (plan, candidat, contestation)\n"
        + HELP_COMMON
        + "\n\nQuand un contrat se termine, je vous demande ce que devient la personne : "
        "répondez avec les boutons (ou par retour d'e-mail)."
        "\n\nRaccourci : écrivez « Dupont Marie 35h le mois dernier » pour déclarer directement "
        "(aussi « 35h dont 7h de formation », « 11/2026 », plusieurs personnes séparées par des "
        "virgules)."
    ),
    Role.FACILITATEUR: (
        "Commandes disponibles :\n"
        "/marches — votre portefeuille de marchés et leur statut\n"
        "/entreprise <nom ou SIRET> — la situation d'une entreprise\n"
        "/point <marché> — point d'étape d'un marché\n"
        "/bilan <année> <donneur d'ordre> — bilan annuel\n"
        "/relances — procédures de relance en cours\n"
        "/procedure — ouvrir une procédure, contacts, accord du donneur, suite (/procedure aide)\n"
        "/note <marché> <entreprise> : <texte> — note qualitative (formation, tutorat, visite)\n"
        "/alertes — alertes à traiter ; /alertes facturation (ou retard…) : un seul type\n"
        "/reunion <type> <marché> <JJ/MM/AAAA> <HHhMM> — enregistrer une réunion (rappels auto)\n"
        "/reunions — réunions à venir\n"
        "/embauche [n° de candidature] — enregistrer une embauche\n"
        "/contrats [marché] — contrats, fins et prolongations (clausebot contrat pour les modifier)\n"
        "/completer <n° candidature> naissance … genre … commune … qpv … statut … — profil pour le bilan\n"
        "/sortie <n° personne> <situation> <JJ/MM/AAAA> — enregistrer ou corriger une sortie\n"
        "/offres [OFF-12] — offres d'emploi : valider, diffuser, candidatures, présélection ; "
        "/offre <entreprise> : … — en déposer une\n"
        "/controle [marché] — contrôler les heures déclarées : valider, ou contester avec un motif\n"
        + HELP_COMMON
    ),
    Role.REFERENT: (
        "Commandes disponibles :\n"
        "/bilan <année> — bilan annuel de vos marchés (chiffres à la fin du dernier mois "
        "complet)\n"
        "/point <marché> — point d'étape d'un de vos marchés\n"
        + HELP_COMMON
    ),
    Role.PRESCRIPTEUR: (
        "Commandes disponibles :\n"
        "/candidat — proposer un candidat\n"
        + HELP_COMMON
    ),
}
HELP[Role.ADMIN] = HELP[Role.FACILITATEUR]

CONTEXT_HELP = {
    "embauche:start": "Écrivez la date de début du contrat, JJ/MM/AAAA (par exemple 03/03/2025).",
    "embauche:end": "Écrivez la date de fin prévue du contrat, JJ/MM/AAAA.",
    "embauche:title": "Écrivez l'intitulé du poste, ou « Passer ».",
    "embauche:confirm": "Vérifiez le récapitulatif puis appuyez sur « Confirmer » ou « Annuler ».",
    "declarer:lot": "Choisissez le marché et le lot avec les boutons.",
    "declarer:contract": "Choisissez la personne avec les boutons.",
    "declarer:month": "Choisissez le mois avec les boutons, ou écrivez-le (« mars 2025 », « 03/2025 »).",
    "declarer:work": "Écrivez le nombre d'heures de travail du mois, par exemple « 35 » ou « 35h30 ».",
    "declarer:training": "Écrivez le nombre d'heures de formation du mois (« 0 » s'il n'y en a pas).",
    "declarer:proof": "Envoyez une photo ou un PDF du justificatif, ou appuyez sur « Passer ».",
    "declarer:confirm": "Vérifiez le récapitulatif puis appuyez sur « Confirmer » ou « Annuler ».",
    "corriger:work": "Écrivez le nouveau nombre d'heures de travail du mois.",
    "corriger:training": "Écrivez le nouveau nombre d'heures de formation (« 0 » s'il n'y en a pas).",
    "corriger:reason": "Écrivez en quelques mots la raison de la correction.",
    "corriger:confirm": "Vérifiez le récapitulatif puis appuyez sur « Confirmer » ou « Annuler ».",
    "candidat:last": "Écrivez le nom de famille du candidat.",
    "candidat:first": "Écrivez le prénom du candidat.",
    "candidat:contact": "Écrivez un téléphone ou un e-mail du candidat, ou appuyez sur « Passer ».",
    "candidat:criteria": "Cochez les critères d'éligibilité avec les boutons, puis « Terminé ».",
    "candidat:lot": "Choisissez le lot concerné avec les boutons.",
    "candidat:cv": "Envoyez le CV (PDF, DOCX ou photo), ou appuyez sur « Passer ».",
    "candidat:confirm": "Vérifiez le récapitulatif puis appuyez sur « Confirmer » ou « Annuler ».",
    "refus:reason": "Écrivez le motif du refus : il sera transmis à l'entreprise.",
    "controle:reason": "Écrivez le motif de la contestation : il sera envoyé à l'entreprise.",
    "justificatif:file": "Envoyez une photo ou un PDF du justificatif, ou /annuler.",
}
