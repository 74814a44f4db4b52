"""Vocabulary for synthetic but plausible records: names, communes, market titles.

Names are combined without repetition (see :func:`person_name`) so that a declaration line
"DUPONT Marie, marché 2024-03-0012, lot 2" designates one contract, as it does in real files.
"""

from __future__ import annotations


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


SURNAMES = _words(
    "Martin Bernard Thomas Petit Robert Richard Durand Dubois Moreau Laurent Simon Michel "
    "Lefebvre Leroy Roux David Bertrand Morel Fournier Girard Bonnet Dupont Lambert Fontaine "
    "Rousseau Vincent Muller Lefevre Faure Andre Mercier Blanc Guerin Boyer Garnier Chevalier "
    "Francois Legrand Gauthier Garcia Perrin Robin Clement Morin Nicolas Henry Roussel Mathieu "
    "Gautier Masson Marchand Duval Denis Dumont Marie Lemaire Noel Meyer Dufour Meunier Brun "
    "Blanchard Giraud Joly Riviere Lucas Brunet Gaillard Barbier Arnaud Martinez Gerard Roche "
    "Renard Schmitt Roy Leroux Colin Vidal Caron Picard Roger Fabre Aubert Lemoine Renaud Dumas "
    "Lacroix Olivier Philippe Bourgeois Pierre Benoit Rey Leclerc Payet Rolland Leclercq "
    "Guillaume Lecomte Lopez Jean Dupuy Guillot Hubert Berger Carpentier Sanchez Dupuis Moulin "
    "Louis Deschamps Huet Vasseur Perez Boucher Fleury Royer Klein Jacquet Adam Paris Poirier "
    "Marty Aubry Guyot Carre Charles Renault Charpentier Menard Maillard Baron Bertin Bailly "
    "Herve Schneider Fernandez Collet Leger Bouvier Julien Prevost Millet Perrot Daniel Lebon "
    "Cousin Germain Breton Besson Langlois Remy Pelletier Leveque Perrier Leblanc Barre Lebrun "
    "Marchal Weber Mallet Hamon Boulanger Jacob Monnier Michaud Rodriguez Guichard Gillet "
    "Etienne Grondin Poulain Tessier Chevallier Collin Chauvin Bouchet Gay Lemaitre Benard "
    "Marechal Humbert Reynaud Antoine Hoarau Perret Barthelemy Cordier Pichon Lejeune Gilbert "
    "Lamy Delaunay Pasquier Carlier Laporte Benali Haddad Diallo Traore Nguyen Kone Mansouri "
    "Belkacem Cisse Bakayoko Diop Sylla Toure Camara Ndiaye Amrani Bensaid Cherif Hamidi Kaci"
)

FIRST_NAMES_F = _words(
    "Marie Nathalie Isabelle Sylvie Catherine Sandrine Christine Valerie Stephanie Celine "
    "Aurelie Julie Camille Laura Sarah Manon Ines Lea Chloe Emma Amina Fatou Yasmine Nadia "
    "Samia Sofia Lina Jade Louise Alice Karima Aicha Myriam Sonia Melanie Audrey Elodie Emilie "
    "Pauline Marion"
)

FIRST_NAMES_M = _words(
    "Jean Pierre Michel Philippe Alain Nicolas Christophe Patrick Laurent Frederic Sebastien "
    "Julien David Olivier Thomas Kevin Maxime Alexandre Lucas Hugo Theo Nathan Enzo Louis "
    "Mohamed Karim Yacine Mehdi Rayan Adam Moussa Mamadou Ibrahim Bilal Samir Sofiane Youssef "
    "Anthony Jeremy Florian Romain Quentin Dylan Killian Ethan Noah Amine Walid Hamza Idriss"
)

# Communes of a metropolis (the Lyon Métropole's), most populous first; the flag says whether
# the commune holds priority neighbourhoods (QPV), which makes residents more likely QPV.
COMMUNES: tuple[tuple[str, bool], ...] = (
    ("Lyon", True), ("Villeurbanne", True), ("Vénissieux", True), ("Vaulx-en-Velin", True),
    ("Caluire-et-Cuire", False), ("Bron", True), ("Saint-Priest", True), ("Meyzieu", True),
    ("Rillieux-la-Pape", True), ("Décines-Charpieu", True), ("Oullins", True),
    ("Sainte-Foy-lès-Lyon", False), ("Pierre-Bénite", True), ("Saint-Fons", True),
    ("Givors", True), ("Écully", False), ("Tassin-la-Demi-Lune", False), ("Saint-Genis-Laval", True),
    ("Francheville", False), ("Mions", False), ("Corbas", False), ("Feyzin", False),
    ("Neuville-sur-Saône", True), ("Genas", False), ("Chassieu", False), ("Craponne", False),
    ("Irigny", False), ("Dardilly", False), ("Limonest", False), ("Fontaines-sur-Saône", False),
    ("La Mulatière", True), ("Grigny", True), ("Champagne-au-Mont-d'Or", False),
    ("Saint-Didier-au-Mont-d'Or", False), ("Jonage", False), ("Sathonay-Camp", False),
)

DONNEUR_CITIES = _words(
    "Lyon Villeurbanne Vénissieux Vaulx-en-Velin Bron Saint-Priest Meyzieu Rillieux-la-Pape "
    "Décines-Charpieu Oullins Pierre-Bénite Saint-Fons Givors Caluire-et-Cuire Écully "
    "Saint-Genis-Laval Neuville-sur-Saône Grigny"
)

BAILLEURS = ("Grand Lyon Habitat", "Lyon Métropole Habitat", "Est Métropole Habitat",
             "Alliade Habitat", "SACVL", "Immobilière Rhône-Alpes")

COMPANY_PREFIXES = (
    "BTP", "Bâtiment", "Constructions", "Entreprise", "Travaux", "Peinture", "Maçonnerie",
    "Électricité", "Plomberie", "Menuiserie", "Propreté", "Espaces verts", "Toitures",
    "Rénovation", "Génie civil", "Services",
)
COMPANY_SUFFIXES = ("Rhône", "Lyonnais", "Saône", "Alpes", "Est", "Sud", "Confluence",
                    "Part-Dieu", "Fourvière", "Croix-Rousse", "Monts d'Or", "Vallée", "")

INSERTION_PREFIXES = {
    "EI": "Entreprise d'insertion", "ETTI": "Intérim d'insertion", "AI": "Association intermédiaire",
    "ACI": "Chantier d'insertion", "GEIQ": "GEIQ BTP", "EA": "Entreprise adaptée",
}

MARKET_TITLES = (
    "Réhabilitation du groupe scolaire {place}", "Construction d'un gymnase à {place}",
    "Rénovation énergétique de logements à {place}", "Aménagement des espaces publics de {place}",
    "Entretien des espaces verts de {place}", "Nettoyage des bâtiments communaux de {place}",
    "Requalification de la place centrale de {place}", "Extension de la médiathèque de {place}",
    "Démolition et reconstruction de la résidence {place}", "Travaux de voirie à {place}",
    "Collecte des déchets du secteur {place}", "Restructuration de la crèche de {place}",
)

LOT_LABELS = {
    "peinture_interieure": "Peinture intérieure", "peinture_exterieure": "Ravalement de façades",
    "maconnerie": "Maçonnerie", "gros_oeuvre": "Gros œuvre",
    "charpente_metallique": "Charpente métallique", "charpente_bois": "Charpente bois",
    "couverture": "Couverture", "etancheite": "Étanchéité", "vrd": "VRD",
    "demolition": "Démolition", "plomberie": "Plomberie CVC", "electricite": "Électricité",
    "menuiserie_interieure": "Menuiseries intérieures",
    "menuiserie_exterieure": "Menuiseries extérieures", "platrerie": "Plâtrerie",
    "carrelage": "Carrelage", "sols_souples": "Sols souples", "serrurerie": "Serrurerie",
    "nettoyage": "Nettoyage", "espaces_verts": "Espaces verts",
    "collecte_dechets": "Collecte des déchets",
}

JOB_TITLES = ("Manœuvre", "Ouvrier·e du bâtiment", "Aide-maçon", "Peintre", "Agent·e d'entretien",
              "Ouvrier·e paysagiste", "Électricien·ne", "Plaquiste", "Agent·e de propreté",
              "Coffreur·se", "Carreleur·se", "Ripeur·se")

_N_SURNAMES = len(SURNAMES)
_N_FIRST = min(len(FIRST_NAMES_F), len(FIRST_NAMES_M))
_SIMPLE = _N_SURNAMES * _N_FIRST
_COMPOUND = _N_SURNAMES * _N_SURNAMES * _N_FIRST


def _stride(space: int) -> int:
    """A prime that does not divide ``space``: multiplying by it permutes ``range(space)``."""
    for prime in (7919, 104_729, 1_299_709, 15_485_863):
        if space % prime:
            return prime
    raise AssertionError("no stride found")


def person_name(index: int, gender: str) -> tuple[str, str]:
    """(LAST, First) of the ``index``-th person, never the same twice.

    The first ``_SIMPLE`` persons get a simple surname, the next ones a compound one
    ("MARTIN-DIALLO"), as happens in real life; within each tier the combinations are visited in
    a scrambled order. The female and male first-name lists share no name, so the gender never
    makes two persons collide.
    """
    if index < _SIMPLE:
        k = (index * _stride(_SIMPLE)) % _SIMPLE
        first_i, a = k % _N_FIRST, k // _N_FIRST
        last = SURNAMES[a]
    else:
        k = ((index - _SIMPLE) * _stride(_COMPOUND)) % _COMPOUND
        first_i, rest = k % _N_FIRST, k // _N_FIRST
        a, b = rest % _N_SURNAMES, rest // _N_SURNAMES
        last = f"{SURNAMES[a]}-{SURNAMES[b]}"
    firsts = FIRST_NAMES_F if gender == "F" else FIRST_NAMES_M
    return last.upper(), firsts[first_i]
